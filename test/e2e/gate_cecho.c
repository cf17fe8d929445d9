/*
 * gate_cecho - a C echo agent for the gate's end-to-end tests.
 *
 * Every PTYPE_CLIENT frame (session -conn, from the gate) goes straight
 * back to its sender with the same session and the same payload pointer:
 * the gate receives a frame for conn and writes it. That is the path of
 * writers that cannot reach the socket (other nodes), which the e2e tests
 * cover through this agent; a local agent would rather write the frame
 * itself with shoal_socket_send_frame. Requests (the watchdog template's "gate_open") are
 * answered with a RESPONSE of no values; anything else is ignored.
 */
#include <string.h>

#include "shoal.h"

SHOAL_API void *gate_cecho_create(void);
SHOAL_API int gate_cecho_init(void *ud, struct shoal_context *ctx, const char *args);
SHOAL_API void gate_cecho_release(void *ud);

void *gate_cecho_create(void) { return NULL; }

void gate_cecho_release(void *ud) { (void)ud; }

static int cecho_cb(struct shoal_context *ctx, void *ud, int type, int session, uint32_t source, const void *msg,
                    size_t sz) {
  (void)ud;
  if (type == SHOAL_PTYPE_CLIENT && session < 0) {
    shoal_send(ctx, 0, source, SHOAL_PTYPE_CLIENT, session, (void *)msg, sz);
    return 1; /* the payload went back to the gate */
  }
  if (type == SHOAL_PTYPE_SYSTEM && sz == 4 && memcmp(msg, "EXIT", 4) == 0) {
    shoal_exit(ctx);
    return 0;
  }
  if (session > 0 && type != SHOAL_PTYPE_RESPONSE && type != SHOAL_PTYPE_ERROR) {
    char *none = shoal_malloc(1);
    none[0] = 0; /* a serialized list of zero values (lualib/src/serial.c) */
    shoal_send(ctx, 0, source, SHOAL_PTYPE_RESPONSE, session, none, 1);
  }
  return 0;
}

int gate_cecho_init(void *ud, struct shoal_context *ctx, const char *args) {
  (void)args;
  shoal_callback(ctx, ud, cecho_cb);
  return 0;
}
