/*
 * harbor_fake.c - the stand-in runtime of harbor_fake.h.
 */
#include "harbor_fake.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>

#include "harbor_wire.h"
#include "config_keys.h"

struct fake F;

void fake_reset(int node) {
  for (int i = 0; i < FAKE_SOCKETS; i++) free(F.socks[i].out);
  free(F.log);
  memset(&F, 0, sizeof(F));
  F.node = node;
  F.self = shoal_handle_make(node, 2);
  F.now = 1000;
  F.next_sock = 10;
}

void fake_setenv(const char *key, const char *value) {
  int i = 0;
  while (F.env[i][0] && strcmp(F.env[i][0], key) != 0) i++;
  F.env[i][0] = key;
  F.env[i][1] = value;
}

void fake_deliver(int type, int session, uint32_t source, const void *msg, size_t sz) {
  F.cb((struct shoal_context *)&F, F.ud, type, session, source, msg, sz);
}

void fake_socket_event(int type, int id, int ud, const char *buffer, size_t n) {
  char *copy = NULL;
  if (buffer) {
    copy = malloc(n + 1);
    memcpy(copy, buffer, n);
    copy[n] = '\0';
  }
  struct shoal_socket_message sm = {type, id, ud, copy};
  fake_deliver(SHOAL_PTYPE_SOCKET, 0, 0, &sm, sizeof(sm));
  free(copy);
}

int fake_next_frame(int id, uint8_t *b, size_t cap, size_t *n) {
  struct fake_socket *s = &F.socks[id];
  if (s->len - s->read < 5) return 0;
  uint32_t flen = wire_get32(s->out + s->read);
  if (s->len - s->read < 4 + (size_t)flen) return 0;
  int kind = s->out[s->read + 4];
  *n = flen - 1 < cap ? flen - 1 : cap;
  memcpy(b, s->out + s->read + 5, *n);
  s->read += 4 + flen;
  return kind;
}

int fake_log_count(const char *text) {
  int count = 0;
  for (const char *p = F.log; p && (p = strstr(p, text)) != NULL; p++) count++;
  return count;
}

void fake_tick(void) { fake_deliver(SHOAL_PTYPE_RESPONSE, F.timer_session, 0, NULL, 0); }

/* ---- the runtime, as the harbor sees it ---- */

ssize_t getrandom(void *buf, size_t n, unsigned flags) {
  (void)flags;
  if (F.random_fails) return -1;
  for (size_t i = 0; i < n; i++) ((uint8_t *)buf)[i] = (uint8_t)rand();
  return (ssize_t)n;
}

void *shoal_malloc(size_t sz) { return malloc(sz ? sz : 1); }
void *shoal_realloc(void *p, size_t sz) { return realloc(p, sz ? sz : 1); }
void shoal_free(void *p) { free(p); }
char *shoal_strdup(const char *s) {
  char *c = malloc(strlen(s) + 1);
  return strcpy(c, s);
}

void shoal_callback(struct shoal_context *ctx, void *ud, shoal_cb cb) {
  (void)ctx;
  F.cb = cb;
  F.ud = ud;
}
uint32_t shoal_self(struct shoal_context *ctx) {
  (void)ctx;
  return F.self;
}
uint32_t shoal_node_self(void) { return (uint32_t)F.node; }
uint64_t shoal_now(void) { return F.now; }
const char *shoal_getenv(const char *key) {
  for (int i = 0; F.env[i][0]; i++)
    if (strcmp(F.env[i][0], key) == 0) return F.env[i][1];
  return NULL;
}
/* The config getters over F.env, falling back to the schema's defaults. */
static const struct {
  const char *name, *def;
} fake_keys[] = {
#define FAKE_KEY(name, type, def, min, max, doc) {#name, def},
    SHOAL_CONFIG_KEYS(FAKE_KEY)
#undef FAKE_KEY
};
static const char *fake_config(const char *key) {
  const char *v = shoal_getenv(key);
  if (v) return v;
  for (size_t i = 0; i < sizeof(fake_keys) / sizeof(fake_keys[0]); i++)
    if (strcmp(fake_keys[i].name, key) == 0) return fake_keys[i].def;
  fprintf(stderr, "harbor_fake: config key '%s' is not in the schema\n", key);
  abort();
}
int64_t shoal_config_int(const char *key) { return strtoll(fake_config(key), NULL, 10); }
int shoal_config_bool(const char *key) {
  const char *v = fake_config(key);
  return strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
}
const char *shoal_config_string(const char *key) { return fake_config(key); }
const char *shoal_strerror(int err) { return err ? "an error" : "ok"; }

void shoal_log(struct shoal_context *ctx, int level, const char *fmt, ...) {
  (void)ctx;
  (void)level;
  char line[2048];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  if (n < 0) return;
  size_t len = strlen(line);
  if (F.loglen + len + 2 > F.logcap) {
    F.logcap = (F.loglen + len + 2) * 2;
    F.log = realloc(F.log, F.logcap);
  }
  memcpy(F.log + F.loglen, line, len);
  F.loglen += len;
  F.log[F.loglen++] = '\n';
  F.log[F.loglen] = '\0';
  F.loglines++;
}

static void record(uint32_t source, uint32_t dest, int type, int session, const void *data, size_t sz, int error) {
  if (F.nsends == FAKE_SENDS) return;
  struct fake_send *s = &F.sends[F.nsends++];
  s->source = source;
  s->dest = dest;
  s->type = type;
  s->session = session;
  s->size = sz;
  s->error = error;
  size_t n = sz < sizeof(s->text) - 1 ? sz : sizeof(s->text) - 1;
  if (data) memcpy(s->text, data, n);
  s->text[n] = '\0';
}

int shoal_send(struct shoal_context *ctx, uint32_t source, uint32_t dest, int type, int session, void *data,
               size_t sz) {
  (void)ctx;
  record(source ? source : F.self, dest, type, session, data, sz, 0);
  free(data);
  return 0;
}

void shoal_reply_error(struct shoal_context *ctx, uint32_t to, int session, int code, const char *text, size_t len) {
  (void)ctx;
  (void)code;
  record(F.self, to, SHOAL_PTYPE_ERROR, session, text, len, 1);
}

int shoal_timeout(struct shoal_context *ctx, uint32_t ms) {
  (void)ctx;
  (void)ms;
  return F.timer_session = F.timer_session + 1;
}
void shoal_exit(struct shoal_context *ctx) { (void)ctx; }
int shoal_name(const char *name, uint32_t handle) {
  (void)name;
  (void)handle;
  return 0;
}
uint32_t shoal_query(const char *name) {
  (void)name;
  return 0;
}
int shoal_list(uint32_t *out, int max) {
  (void)out;
  (void)max;
  return 0;
}

int shoal_harbor_attach(struct shoal_context *ctx, size_t queue_limit) {
  (void)ctx;
  (void)queue_limit;
  return 0;
}
void shoal_harbor_detach(struct shoal_context *ctx) { (void)ctx; }
void shoal_node_set_state(int node, int state) {
  (void)node;
  (void)state;
}
size_t shoal_node_dequeued(int node, size_t bytes) {
  (void)node;
  (void)bytes;
  return 0;
}
void shoal_node_set_buffered(int node, size_t bytes) {
  (void)node;
  (void)bytes;
}
size_t shoal_node_queued(int node) {
  (void)node;
  return 0;
}

static int new_socket(void) { return F.next_sock < FAKE_SOCKETS - 1 ? F.next_sock++ : FAKE_SOCKETS - 1; }

int shoal_socket_listen(struct shoal_context *ctx, const char *host, int port, int backlog) {
  (void)ctx;
  (void)host;
  (void)port;
  (void)backlog;
  return new_socket();
}
int shoal_socket_connect(struct shoal_context *ctx, const char *host, int port) {
  (void)ctx;
  int id = new_socket();
  snprintf(F.socks[id].connect_host, sizeof(F.socks[id].connect_host), "%s:%d", host, port);
  return id;
}
int shoal_socket_start(struct shoal_context *ctx, int id) {
  (void)ctx;
  F.socks[id].started = 1;
  return 0;
}
int shoal_socket_send(struct shoal_context *ctx, int id, void *data, size_t sz) {
  (void)ctx;
  struct fake_socket *s = &F.socks[id];
  s->out = realloc(s->out, s->len + sz);
  memcpy(s->out + s->len, data, sz);
  s->len += sz;
  free(data);
  return 0;
}
void shoal_socket_close(struct shoal_context *ctx, int id) {
  (void)ctx;
  F.socks[id].closed = 1;
}
void shoal_socket_abort(struct shoal_context *ctx, int id) {
  (void)ctx;
  F.socks[id].aborted = 1;
}
size_t shoal_socket_buffered(int id) {
  (void)id;
  return 0;
}
void shoal_socket_nodelay(struct shoal_context *ctx, int id) {
  (void)ctx;
  (void)id;
}
