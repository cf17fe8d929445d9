/*
 * harbor_int.h - what the harbor's files share (cservice/harbor.c: links,
 * states, the data path and the clock; harbor_handshake.c: proving the
 * secret; harbor_command.c: TEXT commands and the cluster list). Private
 * to the harbor module.
 */
#ifndef SHOAL_HARBOR_INT_H
#define SHOAL_HARBOR_INT_H

#include <stddef.h>
#include <stdint.h>

#include "harbor_link.h"
#include "harbor_pending.h"
#include "harbor_resolve.h"
#include "harbor_wire.h"
#include "shoal.h"

#define MAX_NODE SHOAL_HANDLE_NODE_MAX
/* One link per peer node, plus the accepted connections that have not
 * proven the secret yet (at most HARBOR_UNPROVEN_MAX): strangers can never
 * take the slots of this node's own dials. */
#define HARBOR_UNPROVEN_MAX 256
#define MAX_LINKS (MAX_NODE + HARBOR_UNPROVEN_MAX)
#define HARBOR_HANDSHAKE_MS 2000 /* an accepted connection proves the secret within this, or is closed */
#define HARBOR_REFUSE_TEXT_MAX 100 /* bytes of a peer's REFUSE text that are logged */
#define MAX_GLOBAL_NAMES 1024
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define FLUSH_EARLY (256 * 1024) /* flush a buffer this big without waiting */
#define EXIT_GRACE_MS 3000 /* longest the harbor outlives the other services at shutdown */

enum hs { HS_DIALING, HS_WAIT_HELLO, HS_WAIT_PROOF, HS_WAIT_WELCOME, HS_UP };

struct link {
  int sock;        /* socket id */
  int node;        /* peer node, 0 until proven (acceptor side) */
  int hs;          /* enum hs */
  int dialed;      /* we dialed it (else accepted) */
  uint8_t boot[WIRE_BOOT]; /* the peer process's boot id */
  uint8_t mine[WIRE_NONCE], theirs[WIRE_NONCE];
  uint64_t started_ms, last_recv_ms;
  struct link_reader *reader;
  char addr[64];
};

struct obuf {
  uint8_t *data;
  size_t len, cap;
};

struct peer {
  char host[64];
  int port;
  int state;        /* enum shoal_node_state, mirrored into the core; UNKNOWN: not a peer */
  struct link *link; /* the connection when UP or being set up */
  uint64_t since_ms; /* state entered */
  uint64_t next_dial_ms, last_ping_ms;
  uint32_t backoff_ms;
  struct obuf out;  /* frames not yet handed to the socket */
  int dirty;        /* in the flush list */
  struct pending_set *calls;
  uint64_t rtt_us, bytes_in, bytes_out;
  char reason[96];  /* why it was last lost */
};

struct harbor {
  struct shoal_context *ctx;
  uint32_t self;
  int node;
  char secret[256];
  uint8_t boot[WIRE_BOOT]; /* random per process: tells a restart from a second connection */
  size_t secretlen;
  uint32_t heartbeat_ms, misses, call_timeout_ms;
  size_t max_message;
  int listen_sock;
  int timer_session;
  int flush_scheduled;
  int stop_feed;         /* set when the link being read is freed inside its read */
  struct link *reading;  /* the link whose bytes are being fed, or NULL */
  int max_unproven;      /* harbor_max_unproven: accepted links not yet proven */
  uint8_t accepts[256];  /* message types this node takes from other nodes (1 = yes) */
  struct shoal_log_limit strangers;  /* log lines that connections not proven can cause */
  struct shoal_log_limit refused[256]; /* a message type refused from another node, per type */
  struct harbor_resolver *resolver; /* host names resolved off the worker */
  int exiting, exit_session; /* node shutdown under way */
  uint64_t exit_by_ms;       /* leave then at the latest */
  uint64_t last_sweep_ms;
  struct peer peers[MAX_NODE + 1];
  struct link *links[MAX_LINKS];
  int nlinks;
  int dirty[MAX_NODE + 1];
  int ndirty;
  struct { char name[64]; uint32_t handle; } names[MAX_GLOBAL_NAMES];
  int nnames;
};

struct link *harbor_link_new(struct harbor *h, int sock, int node, int hs, const char *addr);
void harbor_accept(struct harbor *h, int sock, const char *addr);
void harbor_handshake_tick(struct harbor *h, uint64_t now);
void harbor_on_refuse(struct harbor *h, struct link *l, const uint8_t *b, size_t n);
void harbor_quiet_log(struct harbor *h, struct shoal_log_limit *q, int level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void harbor_send_frame_now(struct harbor *h, struct link *l, int kind, const void *body, size_t n);
void harbor_link_free(struct harbor *h, struct link *l, int abort_socket);
void harbor_peer_lost(struct harbor *h, int node, const char *why);
void harbor_link_up(struct harbor *h, struct link *l);
void harbor_set_state(struct harbor *h, int node, int state);
void harbor_schedule_dial(struct harbor *h, int node);
void harbor_dial(struct harbor *h, int node);
const char *harbor_state_name(int s);
uint8_t *harbor_obuf_reserve(struct obuf *b, size_t n);
void harbor_put_name(struct obuf *b, const char *name, uint32_t handle);
void harbor_mark_dirty(struct harbor *h, int node);
void harbor_refuse(struct harbor *h, struct link *l, const char *why, int tell_peer);
void harbor_on_hello(struct harbor *h, struct link *l, const uint8_t *b, size_t n);
void harbor_on_proof(struct harbor *h, struct link *l, const uint8_t *b, size_t n);
void harbor_on_welcome(struct harbor *h, struct link *l, const uint8_t *b, size_t n);
void harbor_on_command(struct harbor *h, uint32_t source, int session, const char *text, size_t sz);
int harbor_parse_cluster(struct harbor *h, const char *cluster, char *listen_host, size_t hostlen, int *listen_port);
void harbor_fail(struct harbor *h, uint32_t to, int session, const char *text);
void harbor_add_peer(struct harbor *h, int node, const char *host, int port);
int harbor_parse_peer(const char *spec, int *node, char *host, size_t hostlen, int *port);

#endif
