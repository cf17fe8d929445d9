/*
 * harbor_command.c - the harbor's TEXT commands (query, register, peer,
 * nodes; see harbor.c) and the parsing of the cluster list.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harbor_int.h"

static void answer(struct harbor *h, uint32_t to, int session, const char *text) {
  if (session <= 0) return;
  size_t n = strlen(text);
  char *copy = shoal_malloc(n + 1);
  memcpy(copy, text, n + 1);
  shoal_send(h->ctx, 0, to, SHOAL_PTYPE_RESPONSE, session, copy, n);
}

void harbor_fail(struct harbor *h, uint32_t to, int session, const char *text) {
  if (session > 0) shoal_reply_error(h->ctx, to, session, SHOAL_EINVAL, text, strlen(text));
  else shoal_log(h->ctx, SHOAL_LOG_WARN, "%s", text);
}

int harbor_parse_peer(const char *spec, int *node, char *host, size_t hostlen, int *port) {
  char *end;
  long n = strtol(spec, &end, 10);
  if (end == spec || *end != '@' || n < 1 || n > MAX_NODE) return -1;
  const char *addr = end + 1, *colon = strrchr(addr, ':');
  if (colon == NULL || colon == addr || (size_t)(colon - addr) >= hostlen) return -1;
  long pt = strtol(colon + 1, &end, 10);
  if (*end != '\0' || pt < 1 || pt > 65535) return -1;
  memcpy(host, addr, (size_t)(colon - addr));
  host[colon - addr] = '\0';
  *node = (int)n;
  *port = (int)pt;
  return 0;
}

/* Reads `cluster` ("N@HOST:PORT,..."; any length: a 255-node list is
 * longer than any fixed buffer we would pick): this node's own entry is
 * where it listens, the others are peers. */
int harbor_parse_cluster(struct harbor *h, const char *cluster, char *listen_host, size_t hostlen, int *listen_port) {
  char *list = shoal_strdup(cluster), *save = NULL;
  int r = 0;
  for (char *tok = strtok_r(list, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
    char host[64];
    int node, port;
    if (harbor_parse_peer(tok, &node, host, sizeof(host), &port) != 0) {
      shoal_log(h->ctx, SHOAL_LOG_ERROR, "harbor: cluster entry '%s' is not NODE@HOST:PORT", tok);
      r = -1;
      break;
    }
    if (node == h->node) {
      snprintf(listen_host, hostlen, "%s", host);
      *listen_port = port;
    } else {
      snprintf(h->peers[node].host, sizeof(h->peers[node].host), "%s", host);
      h->peers[node].port = port; /* harbor_init adds it once it can take events */
    }
  }
  shoal_free(list);
  return r;
}

void harbor_add_peer(struct harbor *h, int node, const char *host, int port) {
  struct peer *p = &h->peers[node];
  int changed = strcmp(p->host, host) != 0 || p->port != port;
  snprintf(p->host, sizeof(p->host), "%s", host);
  p->port = port;
  if (p->state == SHOAL_NODE_UNKNOWN) {
    p->backoff_ms = BACKOFF_MIN_MS;
    harbor_set_state(h, node, SHOAL_NODE_CONNECTING);
    harbor_schedule_dial(h, node);
  } else if (changed && p->state != SHOAL_NODE_UP) {
    harbor_schedule_dial(h, node);
  }
  if (node > h->node && p->link == NULL && p->state != SHOAL_NODE_UP) harbor_dial(h, node);
}

/* Appends printf output to b, growing it to fit (a row's hosts and
 * reasons have no length a fixed buffer could count on). */
static void obuf_printf(struct obuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void obuf_printf(struct obuf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n <= 0) return;
  char *at = (char *)harbor_obuf_reserve(b, (size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(at, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len--; /* the NUL stays in the buffer, past len */
}

static void list_nodes(struct harbor *h, uint32_t to, int session) {
  struct obuf out = {0};
  uint64_t now = shoal_now();
  obuf_printf(&out, "%-5s %-10s %-22s %9s %12s %12s %10s %7s %8s %s\n", "node", "state", "address", "rtt_ms",
              "bytes_in", "bytes_out", "queued", "calls", "since_s", "reason");
  for (int i = 1; i <= MAX_NODE; i++) {
    struct peer *p = &h->peers[i];
    if (p->state == SHOAL_NODE_UNKNOWN || i == h->node) continue;
    char addr[96];
    snprintf(addr, sizeof(addr), "%s:%d", p->host[0] ? p->host : "?", p->port);
    obuf_printf(&out, "%-5d %-10s %-22s %9.3f %12llu %12llu %10zu %7zu %8.1f %s\n", i, harbor_state_name(p->state),
                addr, (double)p->rtt_us / 1000.0, (unsigned long long)p->bytes_in, (unsigned long long)p->bytes_out,
                shoal_node_queued(i), pending_count(p->calls), (double)(now - p->since_ms) / 1000.0,
                p->state == SHOAL_NODE_LOST ? p->reason : "");
  }
  shoal_send(h->ctx, 0, to, SHOAL_PTYPE_RESPONSE, session, out.data, out.len);
}

static void register_name(struct harbor *h, uint32_t source, int session, const char *name, const char *handle_text) {
  uint32_t handle = handle_text ? shoal_query(handle_text) : source;
  if (handle == 0 || shoal_handle_node_of(handle) != h->node) return harbor_fail(h, source, session, "harbor: register: not a local service");
  int r = name[0] == '.' ? SHOAL_EINVAL : shoal_name(name, handle);
  if (r != 0) {
    char why[160];
    snprintf(why, sizeof(why), "harbor: register %s: %s", name, name[0] == '.' ? "a global name has no leading dot" : shoal_strerror(r));
    return harbor_fail(h, source, session, why);
  }
  int i = 0;
  while (i < h->nnames && strcmp(h->names[i].name, name) != 0) i++;
  if (i == h->nnames) {
    if (h->nnames == MAX_GLOBAL_NAMES) return harbor_fail(h, source, session, "harbor: register: too many global names");
    h->nnames++;
  }
  snprintf(h->names[i].name, sizeof(h->names[i].name), "%s", name);
  h->names[i].handle = handle;
  for (int node = 1; node <= MAX_NODE; node++) {
    struct peer *p = &h->peers[node];
    if (p->state != SHOAL_NODE_UP) continue;
    harbor_put_name(&p->out, name, handle);
    harbor_mark_dirty(h, node);
  }
  answer(h, source, session, "ok");
}

void harbor_on_command(struct harbor *h, uint32_t source, int session, const char *text, size_t sz) {
  char line[256], *save = NULL;
  if (sz >= sizeof(line)) return harbor_fail(h, source, session, "harbor: command too long");
  memcpy(line, text, sz);
  line[sz] = '\0';
  char *verb = strtok_r(line, " \t\r\n", &save);
  char *a = verb ? strtok_r(NULL, " \t\r\n", &save) : NULL;
  char *b = a ? strtok_r(NULL, " \t\r\n", &save) : NULL;
  char reply[128];
  if (verb && strcmp(verb, "query") == 0 && a) {
    uint32_t handle = shoal_query(a);
    if (handle == 0) {
      snprintf(reply, sizeof(reply), "no service %s on node %d", a, h->node);
      return harbor_fail(h, source, session, reply);
    }
    snprintf(reply, sizeof(reply), ":%08x", handle);
    return answer(h, source, session, reply);
  }
  if (verb && strcmp(verb, "register") == 0 && a) return register_name(h, source, session, a, b);
  if (verb && strcmp(verb, "nodes") == 0) return list_nodes(h, source, session);
  if (verb && strcmp(verb, "peer") == 0 && a && b) {
    char spec[128], host[64];
    int node, port;
    snprintf(spec, sizeof(spec), "%s@%s", a, b);
    if (harbor_parse_peer(spec, &node, host, sizeof(host), &port) != 0 || node == h->node)
      return harbor_fail(h, source, session, "harbor: peer NODE HOST:PORT: bad node or address");
    harbor_add_peer(h, node, host, port);
    return answer(h, source, session, "ok");
  }
  snprintf(reply, sizeof(reply), "harbor: unknown command '%.60s' (query register peer nodes)", verb ? verb : "");
  harbor_fail(h, source, session, reply);
}
