/*
 * harbor_handshake.c - two harbors prove they share the cluster secret
 * before any traffic (see harbor_wire.h for the frames and docs/cluster.md).
 * A failure closes only that connection, logged with the reason.
 */
#include <stdio.h>
#include <string.h>

#include "harbor_int.h"

/* A link failed, mostly before or during its handshake. When it was the
 * node's connection, the node is lost with it. */
void harbor_refuse(struct harbor *h, struct link *l, const char *why, int tell_peer) {
  if (l->node) shoal_log(h->ctx, SHOAL_LOG_ERROR, "harbor: connection with node %d (%s) refused: %s", l->node, l->addr, why);
  else shoal_log(h->ctx, SHOAL_LOG_ERROR, "harbor: connection from %s refused: %s", l->addr, why);
  if (tell_peer) harbor_send_frame_now(h, l, WIRE_REFUSE, why, strlen(why));
  int node = l->node, sock = l->sock; /* l is freed below */
  struct peer *p = node ? &h->peers[node] : NULL;
  int was = p && p->link == l;
  if (was) p->link = NULL;
  h->stop_feed = 1;
  harbor_link_free(h, l, !tell_peer);
  if (tell_peer) shoal_socket_close(h->ctx, sock);
  /* Also when the node was up: an UP peer without a link would have its
   * NULL link read by the tick. */
  if (was) harbor_peer_lost(h, node, why);
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
  wire_nonce(l->mine);
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
