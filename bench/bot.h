/*
 * bot.h - one bench/bot client's state (struct bot) and the connection
 * plumbing of bot_net.c: non-blocking connects, framed and sealed output,
 * framed input, in one epoll loop; and what bot.c (the protocol logic)
 * lends its modules.
 */
#ifndef SHOAL_BOT_H
#define SHOAL_BOT_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "bot_proto.h"

struct bot_ring;
struct bot_stats;

#define BOT_IN_START 1024     /* a connection's first input buffer */
#define BOT_IN_MAX (2 + 65535) /* the largest frame a server can send */
#define BOT_OUT_CAP 768       /* a bot's output: a round of three sealed messages fits */
#define BOT_MAX_TOKEN 256
#define BOT_MAX_TICKET 256

enum bot_state {
  BOT_S_QUEUED,        /* waiting for a login slot */
  BOT_S_WAIT,          /* waiting out retry_after_ms (deadline = wake time) */
  BOT_S_LOGIN_CONNECT, /* the BOT_ST_* stages, in order */
  BOT_S_WELCOME,
  BOT_S_LOGIN_REPLY,
  BOT_S_GATE_CONNECT,
  BOT_S_ENTER,
  BOT_S_PLAY,
  BOT_S_LOGOUT,
  BOT_S_DONE,   /* BYE received */
  BOT_S_KICKED, /* a KICK ended the session (not followed) */
  BOT_S_FAILED,
};

struct bot {
  int fd;                 /* the connection, -1 between connections */
  uint32_t gen;           /* connections opened so far: stale epoll events carry an older one */
  uint32_t id;            /* index in the bot array */
  enum bot_state st;          /* where the bot is */
  int slot;               /* holds one of the --concurrency login slots */
  int want_out;           /* EPOLLOUT requested */
  int retries;            /* login attempts started again so far */
  int registers;          /* REGISTERs sent */
  int registered;         /* the account exists: LOGIN from now on */
  unsigned addr;          /* index in the login address list of this attempt */
  uint64_t deadline;      /* of the current step (BOT_S_WAIT: the wake time), ns */
  uint64_t t_first;       /* first connect to a loginapp, ns */
  uint64_t t_attempt;     /* this attempt's connect to the loginapp, ns */
  struct bot_eph *eph;    /* this attempt's ephemeral key, HELLO to WELCOME (owned) */
  unsigned char EC[BOT_KEY_LEN]; /* its public key */
  unsigned char kout[BOT_KEY_LEN], kin[BOT_KEY_LEN]; /* this connection's keys */
  int sealed;             /* frames are sealed both ways */
  uint64_t seq_out, seq_in; /* the next SEQ each way */
  unsigned char *in;      /* input buffer (owned), frames being assembled */
  size_t in_len, in_cap;
  unsigned char out[BOT_OUT_CAP]; /* bytes not yet written */
  size_t out_len;
  /* from LOGIN_OK */
  uint64_t account, epoch;
  struct sockaddr_in gate;
  unsigned char token[BOT_MAX_TOKEN];
  size_t token_len;
  unsigned char game_c2s[BOT_KEY_LEN], game_s2c[BOT_KEY_LEN];
  int encrypted;
  int redirecting;          /* the ENTER in progress follows a REDIRECT */
  /* resume (--resume, docs/protocol.md section 6.1) */
  unsigned char ticket[BOT_MAX_TICKET]; /* the latest TICKET (or LOGIN_OK's) */
  size_t ticket_len;
  struct sockaddr_in cand[BOT_MAX_CANDIDATES]; /* the latest GATES (or LOGIN_OK's candidates) */
  unsigned ncand;
  struct sockaddr_in lost_gate; /* the gate whose connection was lost */
  unsigned tried;           /* candidates tried for this resume */
  int resuming;             /* the connection in progress sends RESUME */
  unsigned char secret[BOT_KEY_LEN]; /* R of the lost connection's keys */
  uint64_t t_lost;          /* when the session was lost (0: it is not), ns */
  double wall_lost;         /* the same on the wall clock, ms (kept after the return: the restore check) */
  struct bot_ring *ring;    /* the positions acknowledged, for the restore check (owned) */
  int restoring;            /* --world: the session's first WORLD follows a RESUME (is checked) */
  uint64_t next_round;      /* --round-ms: when the next round starts (0: now) */
  int32_t px, py;           /* the position the server keeps (ENTER_OK, MOVED) */
  unsigned char device[16]; /* guest device id */
  unsigned char cred[32];   /* guest credential, once received */
  size_t cred_len;
  char name[48];            /* account name (guests: '#' and the device in hex) */
  /* play */
  uint32_t round;
  int32_t mx, my;           /* the MOVE awaiting MOVED */
  uint32_t ping;            /* the PING awaiting PONG */
  char say[40];             /* the SAY awaiting its CHAT */
  size_t say_len;
  unsigned pending;         /* BOT_P_MOVE, BOT_P_PING, BOT_P_SAY: awaiting a reply */
  uint64_t t_move, t_ping, t_say;
  /* --world (docs/protocol.md 6.2) */
  float wx, wy, ww, wh;     /* the position the space keeps; the space's bounds */
  float tx, ty;             /* the WALK awaiting its HERE */
  uint64_t t_walk, t_space; /* the last WALK sent; the last answer from the space (WORLD, HERE) */
  int loose;                /* a REFUSED or a later WORLD since the WALK: HERE need not match it */
  int stalled;              /* --events: its space stopped answering (reported once) */
  uint32_t lost_reqs;       /* HERE's seq - applied: requests lost with a recreated space */
  int spare_here;           /* HEREs that may come of WHEREs sent before a later WORLD */
};

#define BOT_P_MOVE 1u
#define BOT_P_PING 2u
#define BOT_P_SAY 4u
#define BOT_P_WHERE 8u  /* --world: the round ends with HERE */
#define BOT_P_WORLD 16u /* --world: the first WORLD of the session, before the rounds */

/* The epoll data of b's current connection: its index and connection
 * number, so that an event of a connection closed meanwhile is told apart. */
uint64_t bot_net_ev_data(const struct bot *b);
/* Opens a non-blocking connection to addr, registered in epfd for EPOLLIN
 * and EPOLLOUT (the connect's result). The connection starts clear, SEQ 0
 * both ways. 0, or -1. */
int bot_net_connect(int epfd, struct bot *b, const struct sockaddr_in *addr);
/* Closes b's connection (if any) and frees its buffers. */
void bot_net_close(struct bot *b);
/* Frames msg (len bytes; a negative len is an encoder's failure) into b's
 * output, sealed with kout at the next SEQ when b->sealed. 0, or -1. */
int bot_net_queue(struct bot_aead *a, struct bot *b, const unsigned char *msg, int len);
/* Writes b's output; EPOLLOUT stays requested while some is left. 0, or -1. */
int bot_net_flush(int epfd, struct bot *b);
/* Reads what b's socket has and calls on_frame for each whole frame body,
 * until the socket would block or a frame ended the connection (on_frame
 * closed or replaced it). 0 then; or -1 with *why set (closed by the peer,
 * reset, a frame too large). */
int bot_net_read(struct bot *b, void (*on_frame)(struct bot *b, const unsigned char *body, size_t len),
                 const char **why);

/* bot.c's, for its modules (bot_world.c, bot_resume.c): the run's
 * counters; a failure of the bot at its stage; another login attempt after
 * wait_ms (plus jitter) within the retry budget, else a failure with why;
 * a new step (its deadline from --timeout-ms); a connection of b (0, or
 * -1); its output; the play after ENTER_OK, and the next round; clocks
 * (monotonic ns, wall ms) and jitter. */
extern struct bot_stats *const bot_run_stats;
void bot_fail(struct bot *b, const char *why);
void bot_retry(struct bot *b, uint32_t wait_ms, const char *why);
void bot_set_step(struct bot *b, enum bot_state st);
int bot_connect(struct bot *b, const struct sockaddr_in *addr);
int bot_queue(struct bot *b, const unsigned char *msg, int len);
int bot_flush(struct bot *b);
void bot_start_play(struct bot *b);
void bot_send_round(struct bot *b);
uint64_t bot_now_ns(void);
uint64_t bot_rand(void);
double bot_wall_ms(void);

#endif
