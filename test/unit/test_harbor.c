/*
 * test_harbor - the harbor service (cservice/harbor*.c) against a stand-in
 * runtime (harbor_fake.c): what a hostile or unlucky peer can make it do.
 *
 * The test plays the other nodes' side of the wire by hand (it knows the
 * secret) and checks: connections that never prove the secret are capped
 * and timed out while this node's own dials and real peers still get
 * through; message types that carry pointers or runtime plumbing are
 * refused from other nodes, and a type over 255 is never encoded; the
 * frames behind a WELCOME that closes a second connection are read; the
 * `nodes` listing holds any length of hosts and reasons; a REFUSE text is
 * logged escaped and capped; a failed nonce closes the connection; host
 * names are resolved off the harbor's worker.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "harbor_fake.h"
#include "harbor_int.h"

#define SECRET "unit-test-secret"

SHOAL_API void *harbor_create(void);
SHOAL_API int harbor_init(struct harbor *h, struct shoal_context *ctx, const char *args);
SHOAL_API void harbor_release(struct harbor *h);

/* The documented limits for strangers (docs/cluster.md): the default of
 * harbor_max_unproven and the handshake deadline. */
enum { UNPROVEN_CAP = 64, HANDSHAKE_DEADLINE_MS = 2000 };

static const uint8_t PEER_BOOT[WIRE_BOOT] = {9, 8, 7, 6, 5, 4, 3, 2};

/* A harbor for node 1 whose cluster lists node 2 (which node 1 dials). */
static struct harbor *start(const char *extra_key, const char *extra_value) {
  fake_reset(1);
  setenv("UNIT_HARBOR_SECRET", SECRET, 1);
  fake_setenv("cluster_secret_env", "UNIT_HARBOR_SECRET");
  fake_setenv("cluster", "1@127.0.0.1:7001,2@127.0.0.1:7002");
  fake_setenv("heartbeat_ms", "1000");
  if (extra_key) fake_setenv(extra_key, extra_value);
  struct harbor *h = harbor_create();
  CHECK(harbor_init(h, (struct shoal_context *)&F, NULL) == 0);
  return h;
}

static void send_frame(int sock, int kind, const void *body, size_t n) {
  uint8_t buf[1024];
  CHECK(n + 5 <= sizeof(buf));
  wire_head(buf, kind, n);
  memcpy(buf + 5, body, n);
  fake_socket_event(SHOAL_SOCKET_DATA, sock, (int)(n + 5), (const char *)buf, n + 5);
}

/* Appends a MSG frame to buf at *at. */
static void put_msg(uint8_t *buf, size_t *at, int type, uint32_t src, uint32_t dst, int session, const char *text) {
  size_t n = strlen(text);
  uint8_t *f = buf + *at;
  wire_head(f, WIRE_MSG, WIRE_MSG_HEAD - 1 + n);
  f[5] = (uint8_t)type;
  wire_put32(f + 6, src);
  wire_put32(f + 10, dst);
  wire_put32(f + 14, (uint32_t)session);
  memcpy(f + 4 + WIRE_MSG_HEAD, text, n);
  *at += 4 + WIRE_MSG_HEAD + n;
}

/* Node 2 dials node 1: accepted as socket sock, proven; returns the link. */
static struct link *accept_peer2(struct harbor *h, int sock) {
  fake_socket_event(SHOAL_SOCKET_ACCEPT, 1, sock, "127.0.0.1:40000", 15);
  uint8_t b[128];
  size_t n;
  CHECK(fake_next_frame(sock, b, sizeof(b), &n) == WIRE_HELLO && n == 1 + WIRE_NONCE + WIRE_BOOT && b[0] == 1);
  uint8_t proof[1 + WIRE_NONCE + WIRE_BOOT + WIRE_MAC] = {2};
  for (int i = 0; i < WIRE_NONCE; i++) proof[1 + i] = (uint8_t)(0x40 + i);
  memcpy(proof + 1 + WIRE_NONCE, PEER_BOOT, WIRE_BOOT);
  wire_mac(SECRET, strlen(SECRET), 'D', 2, 1, b + 1, proof + 1, proof + 1 + WIRE_NONCE + WIRE_BOOT);
  send_frame(sock, WIRE_PROOF, proof, sizeof(proof));
  CHECK(fake_next_frame(sock, b, sizeof(b), &n) == WIRE_WELCOME);
  CHECK(h->peers[2].state == SHOAL_NODE_UP && h->peers[2].link && h->peers[2].link->sock == sock);
  return h->peers[2].link;
}

static int sent_to(uint32_t dest, int type) {
  int count = 0;
  for (int i = 0; i < F.nsends; i++) count += F.sends[i].dest == dest && F.sends[i].type == type;
  return count;
}

static int unproven_links(const struct harbor *h) {
  int count = 0;
  for (int i = 0; i < h->nlinks; i++) count += !h->links[i]->dialed && h->links[i]->hs != HS_UP;
  return count;
}

/* Hole 5: a dialer whose old link is up gets WELCOME and a message in one
 * read; the old link is the one closed, and the message is delivered. */
static void test_frames_after_welcome_survive_a_second_connection(void) {
  struct harbor *h = start(NULL, NULL);
  struct link *old = accept_peer2(h, 100);
  /* this node dials node 2 again while the old link is up */
  struct peer *p = &h->peers[2];
  p->link = NULL;
  harbor_dial(h, 2);
  struct link *dial = p->link;
  CHECK(dial && dial->dialed);
  p->link = old;
  fake_socket_event(SHOAL_SOCKET_CONNECT, dial->sock, 0, "127.0.0.1:7002", 14);
  uint8_t hello[1 + WIRE_NONCE + WIRE_BOOT] = {2};
  for (int i = 0; i < WIRE_NONCE; i++) hello[1 + i] = (uint8_t)(0x70 + i);
  memcpy(hello + 1 + WIRE_NONCE, PEER_BOOT, WIRE_BOOT); /* the same process as the old link */
  int dsock = dial->sock;
  send_frame(dsock, WIRE_HELLO, hello, sizeof(hello));
  uint8_t b[128];
  size_t n;
  CHECK(fake_next_frame(dsock, b, sizeof(b), &n) == WIRE_PROOF);
  uint8_t buf[512];
  size_t at = 0;
  wire_head(buf, WIRE_WELCOME, WIRE_MAC);
  wire_mac(SECRET, strlen(SECRET), 'A', 2, 1, b + 1, hello + 1, buf + 5);
  at = 5 + WIRE_MAC;
  put_msg(buf, &at, SHOAL_PTYPE_LUA, 0x02000005, 0x01000009, 0, "after-welcome");
  fake_socket_event(SHOAL_SOCKET_DATA, dsock, (int)at, (const char *)buf, at);
  CHECK(F.socks[100].aborted);             /* node 1 < node 2: its own dial is the one kept */
  CHECK(p->link && p->link->sock == dsock && p->state == SHOAL_NODE_UP);
  CHECK(sent_to(0x01000009, SHOAL_PTYPE_LUA) == 1); /* the frame behind WELCOME was read */
  harbor_release(h);
}

/* Hole 2: 600 strangers connect and say nothing. At most the cap of them
 * are held (the oldest go first), each at most the handshake deadline; the
 * log stays short; a real peer's connection and this node's dial work. */
static void test_strangers_cannot_fill_the_link_table(void) {
  struct harbor *h = start(NULL, NULL);
  int dial_sock = h->peers[2].link->sock;
  for (int i = 0; i < 600; i++) {
    fake_socket_event(SHOAL_SOCKET_ACCEPT, 1, 200 + i, "127.0.0.9:5000", 14);
    CHECK(unproven_links(h) <= UNPROVEN_CAP);
    F.now++;
  }
  CHECK(F.socks[200].aborted && F.socks[200 + 600 - UNPROVEN_CAP - 1].aborted);
  CHECK(!F.socks[200 + 600 - UNPROVEN_CAP].aborted && !F.socks[799].aborted);
  CHECK(!F.socks[dial_sock].aborted && h->peers[2].link && h->peers[2].link->sock == dial_sock);
  CHECK(fake_log_count("have not proven the secret") >= 1);
  CHECK(F.loglines < 20); /* rate limited: not one line per stranger */
  /* a real peer still gets in */
  accept_peer2(h, 900);
  /* the strangers left are closed at the deadline */
  F.now += HANDSHAKE_DEADLINE_MS + 1;
  fake_tick();
  CHECK(unproven_links(h) == 0 && F.socks[799].aborted);
  CHECK(h->peers[2].state == SHOAL_NODE_UP);
  harbor_release(h);
}

/* Hole 4: types that carry pointers or plumbing are refused from another
 * node, with a log line and an error for a request; DEBUG only with
 * remote_debug; user types pass. A type over 255 is not encoded. */
static void test_message_types_from_other_nodes(void) {
  for (int debug_ok = 0; debug_ok < 2; debug_ok++) {
    struct harbor *h = start("remote_debug", debug_ok ? "true" : "false");
    accept_peer2(h, 100);
    static const int types[] = {SHOAL_PTYPE_SOCKET, SHOAL_PTYPE_SYSTEM, SHOAL_PTYPE_HARBOR, SHOAL_PTYPE_DEBUG,
                                SHOAL_PTYPE_LUA,    SHOAL_PTYPE_TEXT,   200};
    for (int i = 0; i < 7; i++) {
      uint8_t buf[256];
      size_t at = 0;
      put_msg(buf, &at, types[i], 0x02000005, 0x01000009, 40 + i, "payload-of-sixteen-bytes");
      fake_socket_event(SHOAL_SOCKET_DATA, 100, (int)at, (const char *)buf, at);
      F.now += 1001; /* past the log's rate limit */
    }
    CHECK(sent_to(0x01000009, SHOAL_PTYPE_SOCKET) == 0);
    CHECK(sent_to(0x01000009, SHOAL_PTYPE_SYSTEM) == 0);
    CHECK(sent_to(0x01000009, SHOAL_PTYPE_HARBOR) == 0);
    CHECK(sent_to(0x01000009, SHOAL_PTYPE_DEBUG) == debug_ok);
    CHECK(sent_to(0x01000009, SHOAL_PTYPE_LUA) == 1 && sent_to(0x01000009, SHOAL_PTYPE_TEXT) == 1);
    CHECK(sent_to(0x01000009, 200) == 1);
    CHECK(sent_to(0x02000005, SHOAL_PTYPE_ERROR) == 3 + !debug_ok); /* each refused request is answered */
    CHECK(fake_log_count("refuses messages of type 5 (SOCKET)") == 1);
    CHECK(fake_log_count("refuses messages of type 7 (HARBOR)") == 1);
    CHECK(fake_log_count("refuses messages of type 8 (DEBUG)") == !debug_ok);
    CHECK(h->peers[2].state == SHOAL_NODE_UP); /* the link stays */
    /* type 261 from a local service: not encoded as 5, answered with an error */
    size_t before = F.socks[100].len;
    struct shoal_remote_message rm = {0x02000009, 261, malloc(4), 4};
    fake_deliver(SHOAL_PTYPE_HARBOR, 77, 0x01000003, &rm, sizeof(rm));
    CHECK(F.socks[100].len == before);
    CHECK(sent_to(0x01000003, SHOAL_PTYPE_ERROR) == 1 && fake_log_count("type 261 cannot cross nodes") == 1);
    harbor_release(h);
  }
}

/* Hole 6: 254 lost peers with 63-character hosts and 95-character reasons
 * (a REFUSE text becomes a reason): the listing holds them all. */
static void test_nodes_listing_with_long_hosts_and_reasons(void) {
  struct harbor *h = start(NULL, NULL);
  char host[64], reason[96], line[128];
  memset(reason, 'r', 95);
  reason[95] = '\0';
  for (int node = 2; node <= MAX_NODE; node++) {
    memset(host, 'h', 63);
    host[63] = '\0';
    host[0] = (char)('a' + node % 26); /* 63 characters, the longest a peer's host can be */
    snprintf(line, sizeof(line), "peer %d %s:65535", node, host);
    fake_deliver(SHOAL_PTYPE_TEXT, 0, 0x01000003, line, strlen(line));
    harbor_peer_lost(h, node, reason);
  }
  F.nsends = 0;
  fake_deliver(SHOAL_PTYPE_TEXT, 5, 0x01000003, "nodes", 5);
  CHECK(F.nsends == 1 && F.sends[0].type == SHOAL_PTYPE_RESPONSE && F.sends[0].session == 5);
  CHECK(F.sends[0].size > 254 * (63 + 95) && strncmp(F.sends[0].text, "node ", 5) == 0);
  harbor_release(h);
}

/* Item 10: a REFUSE text from an unproven endpoint is logged with control
 * characters escaped and its length capped; a failed nonce closes the
 * connection instead of sending a predictable HELLO. */
static void test_refuse_text_and_nonce_failure(void) {
  struct harbor *h = start(NULL, NULL);
  fake_socket_event(SHOAL_SOCKET_ACCEPT, 1, 300, "127.0.0.9:5000", 14);
  char evil[400];
  memset(evil, 'A', sizeof(evil));
  memcpy(evil, "\x1b[2J\nFAKE LOG LINE\r", 19);
  send_frame(300, WIRE_REFUSE, evil, sizeof(evil));
  CHECK(fake_log_count("the peer refused us: \\x1b[2J\\x0aFAKE LOG LINE\\x0d") == 1);
  CHECK(fake_log_count("\x1b") == 0 && fake_log_count("\nFAKE") == 0);
  CHECK(fake_log_count("AAAAA...") == 1 && fake_log_count("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA") == 0);
  CHECK(F.socks[300].aborted);
  F.random_fails = 1;
  fake_socket_event(SHOAL_SOCKET_ACCEPT, 1, 301, "127.0.0.9:5001", 14);
  F.random_fails = 0;
  CHECK(F.socks[301].len == 0 && F.socks[301].aborted && fake_log_count("no random bytes") == 1);
  harbor_release(h);
}

/* Item 10: a peer known by host name is dialed at a numeric address that
 * a resolver thread found; the harbor's callback never calls getaddrinfo. */
static void test_host_names_resolved_off_the_worker(void) {
  struct harbor *h = start(NULL, NULL);
  fake_deliver(SHOAL_PTYPE_TEXT, 0, 0x01000003, "peer 3 localhost:7003", 21);
  int dialed = 0;
  struct timespec pause = {0, 5 * 1000 * 1000};
  for (int round = 0; round < 1000 && !dialed; round++) { /* at most ~5 s */
    for (int id = 0; id < F.next_sock; id++) {
      const char *c = F.socks[id].connect_host;
      CHECK(strstr(c, "localhost") == NULL);
      if (strcmp(c, "127.0.0.1:7003") == 0 || strcmp(c, "::1:7003") == 0) dialed = 1;
    }
    F.now += 10;
    fake_tick();
    nanosleep(&pause, NULL);
  }
  CHECK(dialed);
  fake_deliver(SHOAL_PTYPE_TEXT, 0, 0x01000003, "peer 4 no-such-host.invalid:7004", 32);
  for (int round = 0; round < 1000 && h->peers[4].state != SHOAL_NODE_LOST; round++) {
    F.now += 10;
    fake_tick();
    nanosleep(&pause, NULL);
  }
  CHECK(h->peers[4].state == SHOAL_NODE_LOST && strstr(h->peers[4].reason, "cannot resolve no-such-host.invalid"));
  harbor_release(h);
}

static const struct {
  const char *name;
  void (*fn)(void);
} TESTS[] = {
    {"second_connection", test_frames_after_welcome_survive_a_second_connection},
    {"strangers", test_strangers_cannot_fill_the_link_table},
    {"types", test_message_types_from_other_nodes},
    {"nodes_listing", test_nodes_listing_with_long_hosts_and_reasons},
    {"refuse_and_nonce", test_refuse_text_and_nonce_failure},
    {"resolver", test_host_names_resolved_off_the_worker},
};

/* test_harbor [NAME]: every test, or the one named. */
int main(int argc, char **argv) {
  int ran = 0;
  for (size_t i = 0; i < sizeof(TESTS) / sizeof(TESTS[0]); i++) {
    if (argc > 1 && strcmp(argv[1], TESTS[i].name) != 0) continue;
    TESTS[i].fn();
    ran++;
  }
  fake_reset(1);
  CHECK(ran > 0);
  printf("test_harbor: %d ok\n", ran);
  return 0;
}
