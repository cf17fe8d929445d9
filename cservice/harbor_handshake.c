/*
 * harbor_handshake.c - two harbors prove they share the cluster secret
 * before any traffic (see harbor_wire.h for the frames and docs/cluster.md).
 * A failure closes only that connection, logged with the reason.
 *
 * Anyone who can reach the harbor port can open connections, so the ones
 * that have not proven the secret are held on a short leash: at most
 * harbor_max_unproven of them (a new one pushes out the oldest), each
 * closed unless it proves the secret within HARBOR_HANDSHAKE_MS, each read
 * only in small handshake frames (harbor_link.h), and the log lines they
 * cause are rate limited. This node's own dials and its proven links never
 * compete with them for a slot.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "harbor_int.h"

/* Logs a line another party can cause at will: the first of every second
 * (per q), the others counted and the count told in the next line, so a
 * flood of connections or messages cannot flood the log. */
void harbor_quiet_log(struct harbor *h, struct shoal_log_limit *q, int level, const char *fmt, ...) {
  uint32_t dropped;
  if (!shoal_log_limit_pass(q, 1, &dropped)) return;
  char line[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  if (dropped) shoal_log(h->ctx, level, "%s (and %u such lines left out)", line, dropped);
  else shoal_log(h->ctx, level, "%s", line);
}

/* An accepted connection that has not proven the secret. */
static int unproven(const struct link *l) { return !l->dialed && l->hs != HS_UP; }

/* A link failed, mostly before or during its handshake. When it was the
 * node's connection, the node is lost with it. */
void harbor_refuse(struct harbor *h, struct link *l, const char *why, int tell_peer) {
  if (unproven(l)) harbor_quiet_log(h, &h->strangers, SHOAL_LOG_ERROR, "harbor: connection from %s refused: %s", l->addr, why);
  else shoal_log(h->ctx, SHOAL_LOG_ERROR, "harbor: connection with node %d (%s) refused: %s", l->node, l->addr, why);
  if (tell_peer) harbor_send_frame_now(h, l, WIRE_REFUSE, why, strlen(why));
  int node = l->node, sock = l->sock; /* l is freed below */
  struct peer *p = node ? &h->peers[node] : NULL;
  int was = p && p->link == l;
  if (was) p->link = NULL;
  harbor_link_free(h, l, !tell_peer);
  if (tell_peer) shoal_socket_close(h->ctx, sock);
  /* Also when the node was up: an UP peer without a link would have its
   * NULL link read by the tick. */
  if (was) harbor_peer_lost(h, node, why);
}

/* A new connection on the harbor port: it gets a HELLO and has
 * HARBOR_HANDSHAKE_MS to prove the secret. */
void harbor_accept(struct harbor *h, int sock, const char *addr) {
  struct link *oldest = NULL;
  int waiting = 0;
  for (int i = 0; i < h->nlinks; i++) {
    struct link *l = h->links[i];
    if (!unproven(l)) continue;
    waiting++;
    if (oldest == NULL || l->started_ms < oldest->started_ms) oldest = l;
  }
  if (waiting >= h->max_unproven) {
    char why[160];
    snprintf(why, sizeof(why), "%d connections have not proven the secret (harbor_max_unproven): the oldest goes, for %s",
             waiting, addr);
    harbor_refuse(h, oldest, why, 0);
  }
  struct link *l = harbor_link_new(h, sock, 0, HS_WAIT_PROOF, addr);
  if (l == NULL) return;
  if (wire_nonce(l->mine) != 0) {
    /* never a predictable nonce: a proof for it could be replayed */
    shoal_log(h->ctx, SHOAL_LOG_ERROR, "harbor: no random bytes for a handshake nonce: closing the connection from %s",
              addr);
    harbor_link_free(h, l, 1);
    return;
  }
  uint8_t hello[1 + WIRE_NONCE + WIRE_BOOT];
  hello[0] = (uint8_t)h->node;
  memcpy(hello + 1, l->mine, WIRE_NONCE);
  memcpy(hello + 1 + WIRE_NONCE, h->boot, WIRE_BOOT);
  shoal_socket_start(h->ctx, sock);
  harbor_send_frame_now(h, l, WIRE_HELLO, hello, sizeof(hello));
}

/* Closes the links whose handshake takes too long: a stranger's at
 * HARBOR_HANDSHAKE_MS; this node's own dial at the peer's detection bound,
 * as a frozen peer's kernel still accepts the connection. */
void harbor_handshake_tick(struct harbor *h, uint64_t now) {
  uint64_t dial_limit = (uint64_t)h->heartbeat_ms * h->misses + 1000;
  for (int i = h->nlinks - 1; i >= 0; i--) {
    struct link *l = h->links[i];
    if (l->hs == HS_UP) continue;
    if (l->dialed && now - l->started_ms > dial_limit)
      harbor_refuse(h, l, "handshake timed out (the peer is frozen or not a harbor)", 0);
    else if (!l->dialed && now - l->started_ms > HARBOR_HANDSHAKE_MS)
      harbor_refuse(h, l, "the secret was not proven in time (handshake deadline)", 0);
  }
}

/* REFUSE: the peer closes on us and says why. The text comes from a
 * connection that may not have proven anything: logged with control
 * characters and non-ASCII bytes escaped, at most HARBOR_REFUSE_TEXT_MAX
 * bytes of it. */
void harbor_on_refuse(struct harbor *h, struct link *l, const uint8_t *b, size_t n) {
  char why[40 + 4 * HARBOR_REFUSE_TEXT_MAX + 8];
  size_t at = (size_t)snprintf(why, sizeof(why), "the peer refused us: ");
  size_t take = n < HARBOR_REFUSE_TEXT_MAX ? n : HARBOR_REFUSE_TEXT_MAX;
  for (size_t i = 0; i < take; i++) {
    if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '\\') why[at++] = (char)b[i];
    else at += (size_t)snprintf(why + at, sizeof(why) - at, "\\x%02x", b[i]);
  }
  snprintf(why + at, sizeof(why) - at, "%s", n > take ? "..." : "");
  harbor_refuse(h, l, why, 0);
}

void harbor_on_hello(struct harbor *h, struct link *l, const uint8_t *b, size_t n) {
  if (l->hs != HS_WAIT_HELLO || n != 1 + WIRE_NONCE + WIRE_BOOT) return harbor_refuse(h, l, "unexpected HELLO", 1);
  if (b[0] != l->node) {
    char why[96];
    snprintf(why, sizeof(why), "dialed node %d but node %d answered", l->node, b[0]);
    return harbor_refuse(h, l, why, 1);
  }
  memcpy(l->theirs, b + 1, WIRE_NONCE);
  memcpy(l->boot, b + 1 + WIRE_NONCE, WIRE_BOOT);
  uint8_t proof[1 + WIRE_NONCE + WIRE_BOOT + WIRE_MAC];
  proof[0] = (uint8_t)h->node;
  if (wire_nonce(l->mine) != 0) return harbor_refuse(h, l, "no random bytes for a handshake nonce", 0);
  memcpy(proof + 1, l->mine, WIRE_NONCE);
  memcpy(proof + 1 + WIRE_NONCE, h->boot, WIRE_BOOT);
  wire_mac(h->secret, h->secretlen, 'D', h->node, l->node, l->theirs, l->mine, proof + 1 + WIRE_NONCE + WIRE_BOOT);
  harbor_send_frame_now(h, l, WIRE_PROOF, proof, sizeof(proof));
  l->hs = HS_WAIT_WELCOME;
}

void harbor_on_proof(struct harbor *h, struct link *l, const uint8_t *b, size_t n) {
  if (l->hs != HS_WAIT_PROOF || n != 1 + WIRE_NONCE + WIRE_BOOT + WIRE_MAC) return harbor_refuse(h, l, "unexpected PROOF", 1);
  int node = b[0];
  if (node < 1 || node > MAX_NODE || node == h->node) return harbor_refuse(h, l, "bad node id in PROOF", 1);
  memcpy(l->theirs, b + 1, WIRE_NONCE);
  memcpy(l->boot, b + 1 + WIRE_NONCE, WIRE_BOOT);
  uint8_t want[WIRE_MAC];
  wire_mac(h->secret, h->secretlen, 'D', node, h->node, l->mine, l->theirs, want);
  if (!wire_mac_equal(want, b + 1 + WIRE_NONCE + WIRE_BOOT)) {
    char why[96];
    snprintf(why, sizeof(why), "node %d does not know the cluster secret (bad HMAC)", node);
    return harbor_refuse(h, l, why, 1);
  }
  uint8_t mac[WIRE_MAC];
  wire_mac(h->secret, h->secretlen, 'A', h->node, node, l->theirs, l->mine, mac);
  harbor_send_frame_now(h, l, WIRE_WELCOME, mac, sizeof(mac));
  l->node = node;
  harbor_link_up(h, l);
}

void harbor_on_welcome(struct harbor *h, struct link *l, const uint8_t *b, size_t n) {
  if (l->hs != HS_WAIT_WELCOME || n != WIRE_MAC) return harbor_refuse(h, l, "unexpected WELCOME", 1);
  uint8_t want[WIRE_MAC];
  wire_mac(h->secret, h->secretlen, 'A', l->node, h->node, l->mine, l->theirs, want);
  if (!wire_mac_equal(want, b)) return harbor_refuse(h, l, "the peer does not know the cluster secret (bad HMAC)", 1);
  harbor_link_up(h, l);
}
