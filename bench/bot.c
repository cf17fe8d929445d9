/*
 * bot - thousands of game clients in one process, for tests and the login
 * benchmark (bench/run login). Written from docs/protocol.md (version 1).
 *
 * Each bot: connects to a loginapp (bot i starts on address i of --login,
 * and a retry moves to the next), HELLO/WELCOME and the X25519 key exchange
 * against the pinned --server-key, a sealed REGISTER, LOGIN or GUEST,
 * LOGIN_OK; connects to its gate, ENTER with the token, ENTER_OK (sealed
 * when LOGIN_OK said so); then R rounds of MOVE, PING and SAY, each reply
 * checked against what it sent (MOVED the same x and y, PONG the same n, a
 * CHAT of its own account with its own text); then LOGOUT and BYE.
 *
 * It follows the server: an ERROR with retry_after_ms (BUSY, RATE,
 * LOGIN_RACE, NO_BASEAPP, UNAVAILABLE) is waited out (retry_after_ms plus
 * up to as much again of jitter, section 5.1) and the login starts again,
 * at most --retries times; a gate that refuses the connection is the
 * candidate fallback of version 1 (section 2: log in again); a KICK is
 * counted and ends the session, or with --relogin starts a new login (with
 * --shared-accounts, where other clients log in to the same accounts, a
 * TOKEN_USED answer to ENTER is a newer login's fence and counts the same); a
 * REDIRECT is followed (ENTER on the new gate with its token and keys; the
 * entity must keep its position, at a later epoch; the round in flight is
 * played again there).
 * With --resume, a session lost without a KICK (the connection closed, or
 * no answer within --answer-ms) RESUMEs at the next gate of its latest
 * GATES (section 6.1), or logs in again after a refusal; the time from the
 * loss until it plays again is reported (and, with --events, one line per
 * loss and per return on stderr). --play-s keeps every bot playing rounds
 * (one every --round-ms) for that long instead of --rounds (SIGTERM ends it
 * early: each bot logs out after its round, then the report).
 * The position a server restores after a loss (ENTER_OK after RESUME; with
 * --world a later WORLD, or the first after a RESUME) is looked up among
 * the bot's last acknowledged ones: counted, and with --events an EVENT
 * restored line saying since when acknowledged state was lost.
 * --world (docs/protocol.md 6.2): after ENTER_OK the bot waits for WORLD;
 * each round is WALK (a random step no faster than --walk-speed), WHERE
 * (its HERE must be that point), PING and SAY; AOI, PROP and REFUSED are
 * counted, a later WORLD (a recreated space) is a world_back sample.
 * --stats-every-ms prints a STATS line for a live summary.
 * Every step has a deadline (--timeout-ms); a bot past it is a failure of
 * that step. --duration-limit bounds the whole run.
 *
 *   bot --login HOST:PORT[,HOST:PORT...] --server-key HEX [--bots N]
 *       [--concurrency C] [--rounds R] [--register|--login-only|--guest]
 *       [--prefix NAME] [--first I] [--password P] [--retries K]
 *       [--timeout-ms MS] [--duration-limit S] [--relogin] [--say-every K]
 *       [--shared-accounts] [--json] [--resume] [--answer-ms MS] [--play-s S]
 *       [--round-ms MS] [--events] [--world] [--walk-speed U] [--stats-every-ms MS]
 *   bot --public-key PRIVATE_HEX      prints the X25519 public key
 *
 * Accounts are PREFIX followed by the bot's number (FIRST + index, 5 digits at least). Output:
 * the report (bot_stats.c) on stdout, diagnostics of the first failures on
 * stderr. Exit status: 0 when no bot failed; 1 when one did; 2 for usage.
 *
 * The connection plumbing is bot_net.c, the codec and crypto bot_proto.c,
 * the options bot_opts.c, the report bot_stats.c, the --world play
 * bot_world.c, the lost session's return and the restore check
 * bot_resume.c (with bot_ring.c); bench/bot_check.py tests it against a
 * fake cluster.
 *
 * Known limits: IPv4 addresses only (a gate host must be a literal
 * address); tokens up to 256 bytes; one thread (about 3 X25519 operations
 * per login on the client side: a machine shared with the server loses
 * that much CPU to the clients).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bot.h"
#include "bot_proto.h"
#include "bot_opts.h"
#include "bot_resume.h"
#include "bot_ring.h"
#include "bot_stats.h"
#include "bot_world.h"

#define MAX_LOGGED 10     /* failures described on stderr */
#define SWEEP_NS 10000000ull /* deadlines are checked every 10 ms */

static volatile sig_atomic_t stop_play; /* SIGTERM: --play-s ends now (bots log out, the report is printed) */

/* Run state: one loop, one thread, so plain statics. */
static int epfd = -1;
static struct bot *bots;
static uint32_t *queue; /* ring of bots waiting for a slot */
static size_t q_head, q_len;
static long slots_used, live;
static struct bot_aead *aead;
static struct bot_stats stats;
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static int logged;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rand_u64(void) { /* xorshift64*: jitter only, not secrets */
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 2685821657736338717ull;
}

static enum bot_stage stage_of(enum bot_state st) {
  return st >= BOT_S_LOGIN_CONNECT && st <= BOT_S_LOGOUT ? (enum bot_stage)(st - BOT_S_LOGIN_CONNECT) : BOT_ST_LOGIN_CONNECT;
}

static void set_step(struct bot *b, enum bot_state st) {
  b->st = st;
  b->deadline = now_ns() + (uint64_t)bot_opt.timeout_ms * 1000000u;
}


static double wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void release_slot(struct bot *b) {
  if (b->slot) slots_used--;
  b->slot = 0;
}

/* A bot's run is over (done, kicked or failed). */
static void finish_bot(struct bot *b, enum bot_state st) {
  bot_net_close(b);
  bot_eph_free(b->eph);
  b->eph = NULL;
  release_slot(b);
  b->st = st;
  live--;
}

static void fail(struct bot *b, int timeout, const char *why) {
  enum bot_stage stage = stage_of(b->st);
  stats.failed++;
  stats.fail_stage[stage]++;
  if (timeout) stats.fail_timeout[stage]++;
  if (logged++ < MAX_LOGGED) fprintf(stderr, "bot %u (%s): failed at %s: %s\n", b->id, b->name, bot_stage_name(stage), why);
  finish_bot(b, BOT_S_FAILED);
}

/* Another login attempt after wait_ms (plus up to as much jitter), if the
 * retry budget allows; else the bot fails with why. */
static void retry(struct bot *b, uint32_t wait_ms, const char *why) {
  if (b->retries >= bot_opt.retries) {
    fail(b, 0, why);
    return;
  }
  b->retries++;
  stats.retries++;
  b->redirecting = 0;
  bot_net_close(b);
  release_slot(b);
  uint64_t jitter = wait_ms ? rand_u64() % ((uint64_t)wait_ms * 1000000u + 1) : 0;
  b->st = BOT_S_WAIT;
  b->deadline = now_ns() + (uint64_t)wait_ms * 1000000u + jitter;
  b->addr = (b->addr + 1) % bot_opt.nlogin;
}


static int flush_out(struct bot *b) { return bot_net_flush(epfd, b); }

static int queue_msg(struct bot *b, const unsigned char *msg, int len) { return bot_net_queue(aead, b, msg, len); }

static int start_connect(struct bot *b, const struct sockaddr_in *addr) { return bot_net_connect(epfd, b, addr); }

/* More rounds to play: --play-s counts time, else --rounds counts rounds. */
static int playing_on(const struct bot *b) {
  if (stop_play) return 0;
  if (bot_opt.play_s > 0) return now_ns() < stats.t_begin + (uint64_t)(bot_opt.play_s * 1e9);
  return b->round < (uint32_t)bot_opt.rounds;
}

/* A login attempt: a fresh ephemeral key, a connection to a loginapp. */
static void start_login(struct bot *b) {
  uint64_t t = now_ns();
  if (!b->t_first) b->t_first = t;
  if (!stats.t_first_start) stats.t_first_start = t;
  b->t_attempt = t;
  set_step(b, BOT_S_LOGIN_CONNECT);
  bot_eph_free(b->eph);
  b->eph = bot_eph_new(b->EC);
  if (!b->eph) {
    fail(b, 0, "no ephemeral key");
    return;
  }
  if (start_connect(b, &bot_opt.login[b->addr]) < 0) retry(b, 100, "cannot connect to the loginapp");
}

/* The request of the login connection, once the keys exist. */
static int enc_request(struct bot *b, unsigned char *msg, size_t cap) {
  if (bot_opt.mode == BOT_M_GUEST) return bot_enc_guest(msg, cap, b->device, sizeof b->device, b->cred, b->cred_len);
  int reg = bot_opt.mode == BOT_M_REGISTER && !b->registered;
  b->registers += reg;
  return bot_enc_credentials(msg, cap, reg ? BOT_REGISTER : BOT_LOGIN, b->name, bot_opt.password);
}

static void send_round(struct bot *b);
static void start_play(struct bot *b);

/* What bot_world.c and bot_resume.c use of this file (bot.h). */
struct bot_stats *const bot_run_stats = &stats;
void bot_fail(struct bot *b, const char *why) { fail(b, 0, why); }
void bot_retry(struct bot *b, uint32_t wait_ms, const char *why) { retry(b, wait_ms, why); }
void bot_set_step(struct bot *b, enum bot_state st) { set_step(b, st); }
int bot_connect(struct bot *b, const struct sockaddr_in *addr) { return start_connect(b, addr); }
void bot_start_play(struct bot *b) { start_play(b); }
int bot_queue(struct bot *b, const unsigned char *msg, int len) { return queue_msg(b, msg, len); }
int bot_flush(struct bot *b) { return flush_out(b); }
void bot_send_round(struct bot *b) { send_round(b); }
uint64_t bot_now_ns(void) { return now_ns(); }
uint64_t bot_rand(void) { return rand_u64(); }
double bot_wall_ms(void) { return wall_ms(); }

static void send_round(struct bot *b) {
  unsigned char msg[64];
  uint64_t t = now_ns();
  if (bot_opt.world && bot_world_walk(b, t) < 0) return fail(b, 0, "output buffer too small");
  b->mx = (int32_t)((b->id * 7 + b->round) % 2000) - 1000;
  b->my = (int32_t)b->round;
  b->ping = b->id ^ (b->round << 20);
  b->say_len = (size_t)snprintf(b->say, sizeof b->say, "round %u of bot %u", b->round, b->id);
  /* SAY is answered to every player of the baseapp: --say-every bounds
   * the CHATs (quadratic in the players) a large run makes. */
  int say = bot_opt.say_every > 0 && b->round % (uint32_t)bot_opt.say_every == 0;
  if ((!bot_opt.world && queue_msg(b, msg, bot_enc_move(msg, sizeof msg, b->mx, b->my)) < 0) ||
      queue_msg(b, msg, bot_enc_ping(msg, sizeof msg, b->ping)) < 0 ||
      (say && queue_msg(b, msg, bot_enc_say(msg, sizeof msg, b->say, b->say_len)) < 0)) {
    fail(b, 0, "output buffer too small");
    return;
  }
  b->t_move = b->t_ping = b->t_say = t;
  b->pending = (bot_opt.world ? BOT_P_WHERE : BOT_P_MOVE) | BOT_P_PING | (say ? BOT_P_SAY : 0);
  if (!bot_opt.world) bot_ring_aim(b->ring, b->mx, b->my);
  set_step(b, BOT_S_PLAY);
  if (flush_out(b) < 0) fail(b, 0, "write failed");
}

/* A PING alone (no round): answered by the baseapp itself. */
static void probe(struct bot *b, uint64_t t) {
  unsigned char msg[16];
  b->ping = (b->id ^ (b->round << 20)) | 0x80000000u;
  if (queue_msg(b, msg, bot_enc_ping(msg, sizeof msg, b->ping)) < 0) return fail(b, 0, "output buffer too small");
  b->t_ping = t;
  b->pending |= BOT_P_PING;
  if (flush_out(b) < 0) fail(b, 0, "write failed");
}

static void send_logout(struct bot *b) {
  unsigned char msg[8];
  set_step(b, BOT_S_LOGOUT);
  if (queue_msg(b, msg, bot_enc_empty(msg, sizeof msg, BOT_LOGOUT)) < 0 || flush_out(b) < 0)
    fail(b, 0, "write failed");
}

/* The session is over because the account logged in elsewhere (a KICK,
 * or with --shared-accounts a token a newer login replaced): counted, and
 * followed by a new login with --relogin. */
static void session_over(struct bot *b) {
  if (bot_opt.relogin) {
    retry(b, 50, "kicked, no retries left");
    return;
  }
  stats.kicked++;
  finish_bot(b, BOT_S_KICKED);
}

static void on_kick(struct bot *b, uint16_t code) {
  stats.kicks++;
  stats.kick_codes[code < BOT_CODES ? code : BOT_CODES - 1]++;
  session_over(b);
}

/* An ERROR from the server, in any state. */
static void on_error(struct bot *b, const struct bot_error *e) {
  stats.errors[e->code < BOT_CODES ? e->code : BOT_CODES - 1]++;
  if (e->code == BOT_E_NAME_TAKEN && b->registers > 1 && !b->registered) {
    /* An earlier REGISTER of this bot that got no answer created it. */
    b->registered = 1;
    retry(b, 0, "NAME_TAKEN");
    return;
  }
  if (b->resuming && b->st == BOT_S_ENTER) return bot_resume_refused(b, e);
  if (bot_opt.shared && e->code == BOT_E_TOKEN_USED && b->st == BOT_S_ENTER) {
    /* Another client's login of this account won after this one's LOGIN_OK
     * (section 5.4): its token is fenced off. */
    stats.superseded++;
    session_over(b);
    return;
  }
  if (e->retry_after_ms > 0) {
    retry(b, e->retry_after_ms, bot_code_name(e->code) ? bot_code_name(e->code) : "error with retry_after_ms");
    return;
  }
  char why[96];
  const char *name = bot_code_name(e->code);
  snprintf(why, sizeof why, "ERROR %u %s: %.*s", e->code, name ? name : "?", (int)(e->text.len > 40 ? 40 : e->text.len),
           (const char *)e->text.p);
  fail(b, 0, why);
}

static void on_login_ok(struct bot *b, const struct bot_login_ok *m) {
  stats.logins_ok++;
  b->registered = 1;
  if (m->version != BOT_VERSION) return fail(b, 0, "LOGIN_OK of another version");
  if (m->token.len > BOT_MAX_TOKEN || m->gate_host.len >= 64) return fail(b, 0, "token or gate host too long");
  char host[64];
  memcpy(host, m->gate_host.p, m->gate_host.len);
  host[m->gate_host.len] = 0;
  memset(&b->gate, 0, sizeof b->gate);
  b->gate.sin_family = AF_INET;
  b->gate.sin_port = htons(m->gate_port);
  if (inet_pton(AF_INET, host, &b->gate.sin_addr) != 1) return fail(b, 0, "gate host is not an IPv4 address");
  b->account = m->account;
  b->epoch = m->epoch;
  memcpy(b->token, m->token.p, m->token.len);
  b->token_len = m->token.len;
  memcpy(b->game_c2s, m->c2s, BOT_KEY_LEN);
  memcpy(b->game_s2c, m->s2c, BOT_KEY_LEN);
  b->encrypted = m->encrypted == 1;
  if (m->encrypted > 1) return fail(b, 0, "LOGIN_OK.encrypted is neither 0 nor 1");
  b->ticket_len = 0;
  if (m->ticket.len <= BOT_MAX_TICKET) {
    memcpy(b->ticket, m->ticket.p, m->ticket.len);
    b->ticket_len = m->ticket.len;
  }
  bot_resume_keep_gates(b, m->cand, m->ncand);
  if (bot_opt.mode == BOT_M_GUEST) {
    if (m->credential.len == 32) {
      memcpy(b->cred, m->credential.p, 32);
      b->cred_len = 32;
    } else if (m->credential.len != 0 || b->cred_len == 0) {
      return fail(b, 0, "GUEST answered without a 32-byte credential");
    }
  }
  /* The server closes the login connection; this side does not wait for it. */
  bot_net_close(b);
  set_step(b, BOT_S_GATE_CONNECT);
  if (start_connect(b, &b->gate) < 0) {
    stats.fallbacks++;
    retry(b, 50, "cannot connect to the gate");
  }
}

/* After ENTER_OK: the rounds (with --world, once the space's WORLD came). */
static void start_play(struct bot *b) {
  if (!playing_on(b)) return send_logout(b);
  if (!bot_opt.world) return send_round(b);
  set_step(b, BOT_S_PLAY);
  b->pending = BOT_P_WORLD;
  b->stalled = b->spare_here = 0;
  b->lost_reqs = 0;
  b->restoring = 0; /* a RESUME sets it again (bot_resume_entered) */
  b->t_move = b->t_ping = b->t_space = now_ns();
}

/* Checks ENTER_OK against LOGIN_OK and this bot's name. */
static void on_enter_ok(struct bot *b, const struct bot_enter_ok *m) {
  if (m->name.len != strlen(b->name) || memcmp(m->name.p, b->name, m->name.len) != 0)
    return fail(b, 0, "ENTER_OK with another name");
  if (b->redirecting) {
    /* The same entity at a later epoch (section 6, Redirect); the position
     * is the last MOVED, or the MOVE that was in flight. */
    int moving = (b->pending & BOT_P_MOVE) != 0;
    if (m->account != b->account || m->epoch <= b->epoch) return fail(b, 0, "ENTER_OK after REDIRECT: account or epoch");
    if (!(m->x == b->px && m->y == b->py) && !(moving && m->x == b->mx && m->y == b->my))
      return fail(b, 0, "ENTER_OK after REDIRECT: the entity lost its position");
    b->redirecting = 0;
    b->epoch = m->epoch;
    b->px = m->x;
    b->py = m->y;
    if (!bot_opt.world) bot_ring_ack(b->ring, m->x, m->y, wall_ms());
    return start_play(b); /* the round in flight is sent again */
  }
  if (b->resuming) return bot_resume_entered(b, m); /* the restored position is checked there */
  if (m->account != b->account || m->epoch != b->epoch) return fail(b, 0, "ENTER_OK of another account or epoch");
  b->px = m->x;
  b->py = m->y;
  if (!bot_opt.world) bot_ring_ack(b->ring, m->x, m->y, wall_ms()); /* the saved position: acknowledged */
  uint64_t t = now_ns();
  stats.entered++;
  stats.t_last_enter = t;
  bot_samples_add(&stats.login, t - b->t_attempt);
  bot_samples_add(&stats.login_total, t - b->t_first);
  release_slot(b);
  b->round = 0;
  if (b->t_lost) {
    stats.relogged++;
    bot_resume_back(b, "relogged");
  }
  start_play(b);
}

/* One reply of a play round. */
static void on_play(struct bot *b, int id, const unsigned char *m, size_t len) {
  uint64_t t = now_ns();
  if (bot_opt.world && id >= BOT_WALK && id <= BOT_HERE) {
    if (bot_world_on(b, id, m, len) || b->st != BOT_S_PLAY) return;
  } else if (id == BOT_MOVED) {
    int32_t x, y;
    if (bot_dec_moved(m, len, &x, &y) < 0) return fail(b, 0, "malformed MOVED");
    if (!(b->pending & BOT_P_MOVE) || x != b->mx || y != b->my) return fail(b, 0, "MOVED does not match the MOVE");
    b->pending &= ~BOT_P_MOVE;
    b->px = x;
    b->py = y;
    bot_ring_ack(b->ring, x, y, wall_ms());
    bot_samples_add(&stats.rtt, t - b->t_move);
  } else if (id == BOT_PONG) {
    uint32_t n;
    if (bot_dec_u32(m, len, BOT_PONG, &n) < 0) return fail(b, 0, "malformed PONG");
    if (!(b->pending & BOT_P_PING) || n != b->ping) return fail(b, 0, "PONG does not match the PING");
    b->pending &= ~BOT_P_PING;
    bot_samples_add(&stats.rtt, t - b->t_ping);
  } else if (id == BOT_CHAT) {
    struct bot_chat c;
    if (bot_dec_chat(m, len, &c) < 0) return fail(b, 0, "malformed CHAT");
    if (c.account != b->account) {
      stats.chats_other++;
      return;
    }
    if (!(b->pending & BOT_P_SAY) || c.text.len != b->say_len || memcmp(c.text.p, b->say, b->say_len) != 0 ||
        c.name.len != strlen(b->name) || memcmp(c.name.p, b->name, c.name.len) != 0)
      return fail(b, 0, "own CHAT does not match the SAY");
    b->pending &= ~BOT_P_SAY;
    bot_samples_add(&stats.rtt, t - b->t_say);
  } else {
    return fail(b, 0, "unexpected message while playing");
  }
  if (b->pending) return;
  stats.rounds++;
  b->round++;
  if (!playing_on(b)) return send_logout(b);
  if (bot_opt.round_ms > 0) { /* the sweep starts the next round */
    b->next_round = t + (uint64_t)bot_opt.round_ms * 1000000u;
    set_step(b, BOT_S_PLAY);
    return;
  }
  send_round(b);
}

/* REDIRECT (section 6): the entity moves to another baseapp; ENTER there
 * with the new token and keys, SEQ from 0. */
static void on_redirect(struct bot *b, const unsigned char *m, size_t len) {
  struct bot_redirect r;
  char host[64];
  stats.redirects++;
  if (bot_dec_redirect(m, len, &r) < 0) return fail(b, 0, "malformed REDIRECT");
  if (r.token.len > BOT_MAX_TOKEN || r.host.len >= sizeof host || r.encrypted > 1)
    return fail(b, 0, "REDIRECT: token or host too long, or encrypted not 0 or 1");
  memcpy(host, r.host.p, r.host.len);
  host[r.host.len] = 0;
  memset(&b->gate, 0, sizeof b->gate);
  b->gate.sin_family = AF_INET;
  b->gate.sin_port = htons(r.port);
  if (inet_pton(AF_INET, host, &b->gate.sin_addr) != 1) return fail(b, 0, "REDIRECT host is not an IPv4 address");
  memcpy(b->token, r.token.p, r.token.len);
  b->token_len = r.token.len;
  memcpy(b->game_c2s, r.c2s, BOT_KEY_LEN);
  memcpy(b->game_s2c, r.s2c, BOT_KEY_LEN);
  b->encrypted = r.encrypted;
  b->redirecting = 1;
  bot_net_close(b);
  set_step(b, BOT_S_GATE_CONNECT);
  if (start_connect(b, &b->gate) < 0) retry(b, 50, "cannot connect to the redirect's gate");
}

/* A clear ERROR where the doc allows one (section 2, ERROR's row): on the
 * login port until WELCOME (admission, the key exchange's refusals), on the
 * game port until ENTER_OK (the token refusals). A sealed first frame
 * starts with SEQ 0 (00 00), never with ERROR's id (00 07). */
static int clear_error(struct bot *b, const unsigned char *body, size_t len, struct bot_error *e) {
  int allowed = b->st == BOT_S_WELCOME || (b->st == BOT_S_ENTER && b->seq_in == 0);
  return allowed && bot_msg_id(body, len) == BOT_ERROR && bot_dec_error(body, len, e) == 0;
}

/* Handles one frame body. */
static void on_frame(struct bot *b, const unsigned char *body, size_t len) {
  unsigned char plain[BOT_IN_MAX];
  struct bot_error e;
  const unsigned char *m = body;
  if (len == 0) return fail(b, 0, "empty frame from the server");
  if (b->st == BOT_S_WELCOME) {
    struct bot_welcome w;
    if (clear_error(b, body, len, &e)) return on_error(b, &e);
    if (bot_dec_welcome(body, len, &w) < 0) return fail(b, 0, "malformed WELCOME");
    if (w.version != BOT_VERSION) return fail(b, 0, "WELCOME of another version");
    unsigned char msg[400];
    int keyed = bot_login_keys(b->eph, b->EC, bot_opt.server_key, &w, b->kout, b->kin);
    bot_eph_free(b->eph); /* used once */
    b->eph = NULL;
    if (keyed < 0) return fail(b, 0, "key exchange failed (low-order point)");
    b->sealed = 1;
    set_step(b, BOT_S_LOGIN_REPLY);
    if (queue_msg(b, msg, enc_request(b, msg, sizeof msg)) < 0 || flush_out(b) < 0)
      return fail(b, 0, "cannot send the request");
    return;
  }
  if (b->sealed) {
    if (clear_error(b, body, len, &e)) return on_error(b, &e);
    int n = bot_open(aead, b->kin, b->seq_in, body, len, plain);
    if (n < 0) return fail(b, 0, b->st == BOT_S_LOGIN_REPLY ? "cannot open the loginapp's frame (wrong server key?)"
                                                        : "cannot open a sealed frame");
    b->seq_in++;
    m = plain;
    len = (size_t)n;
  }
  int id = bot_msg_id(m, len);
  if (id == BOT_ERROR) {
    if (bot_dec_error(m, len, &e) < 0) return fail(b, 0, "malformed ERROR");
    return on_error(b, &e);
  }
  if (id == BOT_KICK && b->st >= BOT_S_ENTER) {
    uint16_t code;
    struct bot_str text;
    if (bot_dec_kick(m, len, &code, &text) < 0) return fail(b, 0, "malformed KICK");
    return on_kick(b, code);
  }
  if (id == BOT_REDIRECT && (b->st == BOT_S_PLAY || b->st == BOT_S_LOGOUT)) return on_redirect(b, m, len);
  if (id == BOT_TICKET && (b->st == BOT_S_PLAY || b->st == BOT_S_LOGOUT)) {
    /* A fresh resume ticket (section 6): kept by a real client, counted here. */
    struct bot_str t;
    if (bot_dec_bytes(m, len, BOT_TICKET, &t) < 0 || t.len == 0) return fail(b, 0, "malformed TICKET");
    stats.tickets++;
    if (t.len <= BOT_MAX_TICKET) {
      memcpy(b->ticket, t.p, t.len);
      b->ticket_len = t.len;
    }
    return;
  }
  if (id == BOT_GATES && (b->st == BOT_S_PLAY || b->st == BOT_S_LOGOUT)) { /* the live gates: for a resume */
    struct bot_candidate c[BOT_MAX_CANDIDATES];
    unsigned n;
    if (bot_dec_gates(m, len, c, &n) < 0) return fail(b, 0, "malformed GATES");
    bot_resume_keep_gates(b, c, n);
    return;
  }
  switch (b->st) {
  case BOT_S_LOGIN_REPLY: {
    struct bot_login_ok ok;
    if (bot_dec_login_ok(m, len, &ok) < 0) return fail(b, 0, "malformed LOGIN_OK");
    return on_login_ok(b, &ok);
  }
  case BOT_S_ENTER: {
    struct bot_enter_ok eo;
    if (bot_dec_enter_ok(m, len, &eo) < 0) return fail(b, 0, "malformed ENTER_OK");
    return on_enter_ok(b, &eo);
  }
  case BOT_S_PLAY:
    return on_play(b, id, m, len);
  case BOT_S_LOGOUT:
    if (id == BOT_CHAT || (bot_opt.world && id >= BOT_WALK && id <= BOT_HERE)) { /* still talking, still in view */
      stats.chats_other++;
      return;
    }
    if (bot_dec_empty(m, len, BOT_BYE) < 0) return fail(b, 0, "expected BYE");
    stats.completed++;
    return finish_bot(b, BOT_S_DONE);
  default:
    return fail(b, 0, "a frame in a state that expects none");
  }
}

/* The connection is up: what the protocol sends first. */
static void on_connected(struct bot *b) {
  unsigned char msg[BOT_MAX_TOKEN + 64];
  int n;
  if (b->st == BOT_S_LOGIN_CONNECT) {
    set_step(b, BOT_S_WELCOME);
    n = bot_enc_hello(msg, sizeof msg, b->EC);
  } else if (b->resuming) {
    set_step(b, BOT_S_ENTER);
    if ((n = bot_resume_enc(b, msg, sizeof msg)) < 0) return fail(b, 0, "resume keys failed");
  } else {
    set_step(b, BOT_S_ENTER);
    n = bot_enc_enter(msg, sizeof msg, b->account, b->token, b->token_len);
  }
  if (queue_msg(b, msg, n) < 0 || flush_out(b) < 0) return fail(b, 0, "cannot send the first frame");
  if (b->st == BOT_S_ENTER && b->encrypted) { /* ENTER went clear; the rest is sealed */
    b->sealed = 1;
    memcpy(b->kout, b->game_c2s, BOT_KEY_LEN);
    memcpy(b->kin, b->game_s2c, BOT_KEY_LEN);
  }
}

static void on_connect_failed(struct bot *b) {
  if (b->st == BOT_S_GATE_CONNECT && b->resuming) {
    bot_resume_next_gate(b, "connect failed"); /* that gate is down too */
  } else if (b->st == BOT_S_GATE_CONNECT && b->redirecting) {
    retry(b, 50, "the redirect's gate refused the connection"); /* log in again */
  } else if (b->st == BOT_S_GATE_CONNECT) {
    stats.fallbacks++; /* version 1's fallback: log in again */
    retry(b, 50, "the gate refused the connection");
  } else {
    retry(b, 100, "the loginapp refused the connection");
  }
}

/* Reads what is there and handles every whole frame. BYE was handled
 * before any close that follows it; a close right after LOGIN_OK cannot
 * land here (this side closed first): any other close is a failure. */
static void on_readable(struct bot *b) {
  const char *why = NULL;
  if (bot_net_read(b, on_frame, &why) < 0) {
    if (b->st == BOT_S_PLAY) return bot_resume_lost(b, why); /* closed without a KICK */
    if (b->resuming && b->st == BOT_S_ENTER) return bot_resume_next_gate(b, why);
    fail(b, 0, why);
  }
}

static void on_event(struct bot *b, uint32_t gen, uint32_t events) {
  if (b->fd < 0 || gen != b->gen) return; /* for a connection closed meanwhile */
  if (b->st == BOT_S_LOGIN_CONNECT || b->st == BOT_S_GATE_CONNECT) {
    int err = 0;
    socklen_t sl = sizeof err;
    if (getsockopt(b->fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0 || err) return on_connect_failed(b);
    if (!(events & EPOLLOUT)) return on_connect_failed(b);
    on_connected(b);
    return;
  }
  if (events & EPOLLOUT) {
    if (flush_out(b) < 0) return fail(b, 0, "write failed");
  }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(b);
}

/* Starts queued bots while login slots are free. */
static void start_queued(void) {
  while (q_len > 0 && slots_used < bot_opt.concurrency) {
    struct bot *b = &bots[queue[q_head]];
    q_head = (q_head + 1) % (size_t)bot_opt.bots;
    q_len--;
    b->slot = 1;
    slots_used++;
    start_login(b);
  }
}

static void enqueue(struct bot *b) {
  b->st = BOT_S_QUEUED;
  queue[(q_head + q_len) % (size_t)bot_opt.bots] = b->id;
  q_len++;
}

/* Deadlines: steps past theirs fail, waits past theirs queue again. */
static void sweep(uint64_t t) {
  for (long i = 0; i < bot_opt.bots; i++) {
    struct bot *b = &bots[i];
    if (b->st == BOT_S_WAIT && t >= b->deadline)
      enqueue(b);
    else if (b->st == BOT_S_PLAY && bot_opt.resume && (bot_opt.world ? (b->pending & BOT_P_PING) != 0 : b->pending != 0) &&
             t - b->t_ping >= (uint64_t)bot_opt.answer_ms * 1000000u)
      bot_resume_lost(b, "no answer"); /* a frozen baseapp (a silent space is a cellapp's loss: it waits for WORLD) */
    else if (b->st == BOT_S_PLAY && (b->pending & (BOT_P_WHERE | BOT_P_WORLD)) &&
             t - b->t_space >= (uint64_t)bot_opt.answer_ms * 1000000u && !(b->pending & BOT_P_PING) &&
             t - b->t_ping >= (uint64_t)bot_opt.answer_ms * 1000000u) {
      /* The space is silent: a cellapp's loss (WORLD comes again) or a
       * frozen baseapp whose PING was answered before it froze. A PING
       * tells which: unanswered within --answer-ms, the session is lost. */
      if (bot_opt.events && !b->stalled) fprintf(stderr, "EVENT stalled bot=%u wall_ms=%.0f\n", b->id, wall_ms());
      b->stalled = 1;
      probe(b, t);
    }
    else if (b->st == BOT_S_PLAY && !b->pending && b->next_round && t >= b->next_round) {
      b->next_round = 0;
      send_round(b);
    }
    else if (b->st >= BOT_S_LOGIN_CONNECT && b->st <= BOT_S_LOGOUT && t >= b->deadline)
      fail(b, 1, "the step's deadline passed");
  }
}

static void init_bot(struct bot *b, uint32_t i) {
  memset(b, 0, sizeof *b);
  b->fd = -1;
  b->id = i;
  b->addr = i % bot_opt.nlogin;
  b->ring = bot_ring_new();
  if (bot_opt.mode == BOT_M_GUEST) {
    for (size_t k = 0; k < sizeof b->device; k += 8) {
      uint64_t r = rand_u64();
      memcpy(b->device + k, &r, 8);
    }
    b->name[0] = '#';
    for (size_t k = 0; k < sizeof b->device; k++) snprintf(b->name + 1 + 2 * k, 3, "%02x", b->device[k]);
  } else {
    snprintf(b->name, sizeof b->name, "%s%05ld", bot_opt.prefix, bot_opt.first + (long)i); /* 3 bytes at least */
  }
}

/* --stats-every-ms: one line of the run so far, for a live summary
 * (scripts/demo.sh): bots playing now (in a session, not lost), totals,
 * latencies so far. */
static void print_stats_line(void) {
  long playing = 0, gates_min = -1; /* gates_min: the fewest gates a playing bot knows (GATES), -1 for none */
  for (long i = 0; i < bot_opt.bots; i++) {
    const struct bot *b = &bots[i];
    if (b->st != BOT_S_PLAY || b->t_lost || b->resuming) continue;
    playing++;
    if (gates_min < 0 || (long)b->ncand < gates_min) gates_min = (long)b->ncand;
  }
  fprintf(stderr,
          "STATS wall_ms=%.0f playing=%ld entered=%ld failed=%ld rounds=%ld walks=%ld aoi=%ld lost=%ld back=%ld "
          "worlds=%ld login_p50_ms=%.1f login_max_ms=%.1f rtt_p50_ms=%.2f rtt_p99_ms=%.2f gates_min=%ld\n",
          wall_ms(), playing, stats.entered, stats.failed, stats.rounds, stats.walks, stats.aoi_records, stats.lost,
          stats.resumed + stats.relogged, stats.worlds, bot_samples_pct(&stats.login, 50),
          bot_samples_pct(&stats.login, 100), bot_samples_pct(&stats.rtt, 50), bot_samples_pct(&stats.rtt, 99),
          gates_min);
}

static void on_term(int sig) {
  (void)sig;
  stop_play = 1;
}

int main(int argc, char **argv) {
  bot_opts_parse(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGTERM, on_term);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  rng ^= now_ns() ^ ((uint64_t)getpid() << 32);
  epfd = epoll_create1(EPOLL_CLOEXEC);
  aead = bot_aead_new();
  bots = calloc((size_t)bot_opt.bots, sizeof *bots);
  queue = calloc((size_t)bot_opt.bots, sizeof *queue);
  if (epfd < 0 || !aead || !bots || !queue) {
    perror("bot: setup");
    return 1;
  }
  for (long i = 0; i < bot_opt.bots; i++) {
    init_bot(&bots[i], (uint32_t)i);
    if (!bots[i].ring) {
      perror("bot: setup");
      return 1;
    }
    enqueue(&bots[i]);
  }
  stats.bots = live = bot_opt.bots;
  stats.t_begin = now_ns();
  uint64_t end = stats.t_begin + (uint64_t)(bot_opt.duration * 1e9), last_sweep = 0, last_stats = stats.t_begin;
  struct epoll_event evs[512];
  while (live > 0) {
    start_queued();
    int n = epoll_wait(epfd, evs, 512, 5);
    if (n < 0 && errno != EINTR) {
      perror("bot: epoll_wait");
      break;
    }
    for (int i = 0; i < n; i++)
      on_event(&bots[(uint32_t)evs[i].data.u64], (uint32_t)(evs[i].data.u64 >> 32), evs[i].events);
    uint64_t t = now_ns();
    if (t - last_sweep >= SWEEP_NS) {
      sweep(t);
      last_sweep = t;
    }
    if (bot_opt.stats_every_ms > 0 && t - last_stats >= (uint64_t)bot_opt.stats_every_ms * 1000000u) {
      print_stats_line();
      last_stats = t;
    }
    if (t >= end) break;
  }
  /* The duration limit: every bot still running fails where it is. */
  for (long i = 0; i < bot_opt.bots; i++) {
    struct bot *b = &bots[i];
    if (b->st < BOT_S_DONE) {
      if (b->st < BOT_S_LOGIN_CONNECT) b->st = BOT_S_LOGIN_CONNECT; /* never got (back) in */
      fail(b, 1, "the duration limit passed");
    }
  }
  stats.t_end = now_ns();
  bot_stats_report(&stats, stdout, bot_opt.json);
  int rc = stats.failed > 0 ? 1 : 0;
  bot_stats_free(&stats);
  bot_aead_free(aead);
  for (long i = 0; i < bot_opt.bots; i++) bot_ring_free(bots[i].ring);
  free(bots);
  free(queue);
  free(bot_opt.login);
  close(epfd);
  return rc;
}
