/*
 * dbmgr - persistence (SPEC section 5), a C service.
 *
 *   shoal.launch("dbmgr", "path=/var/game/game.db name=.dbmgr")
 *
 * Arguments (each overrides its config key; docs/dbmgr.md):
 *   backend=sqlite|postgres  path=FILE  conninfo=postgresql://URI  sync=full|normal  batch_max=N  batch_ms=MS
 *   queue_max=N  read_timeout_ms=MS  max_value_kb=KB  name=.NAME
 *
 * Requests are LUA messages (the runtime's serializer) of scalars: the
 * command name, then its arguments (dbmgr_int.h lists them; the Lua client
 * is lualib/game/db.lua). The callback runs on a worker and never touches
 * the database: it checks the request (a bad one is answered at once with
 * an ERROR of code SHOAL_EINVAL, an entity value over max_value_kb with
 * SHOAL_ETOOBIG), and queues it for the database thread (dbmgr_queue.c),
 * which answers with a RESPONSE, or an ERROR with a SHOAL_E* code. A full
 * queue answers SHOAL_EFULL at once; a dbmgr that is exiting, SHOAL_EEXITING.
 *
 * On SYSTEM EXIT (graceful shutdown) the thread runs what is queued and
 * commits the open batch; then the service exits. A kill does the same in
 * release, so nothing queued is dropped either way.
 */
#include <stdio.h>
#include <string.h>

#include "dbmgr_int.h"
#include "kvline.h"
#include "shoal.h"

struct dbmgr {
  struct shoal_context *ctx;
  struct dbmgr_queue *queue;  /* the database thread; NULL before init */
  struct dbmgr_config cfg;
  int exiting;                /* EXIT seen: new requests are refused */
};

struct command {
  const char *name;
  int write;
  const char *args;
};

static const struct command commands[DBMGR_OP_COUNT] = {
#define DBMGR_CMD_ENTRY(id, name, write, args) {name, write, args},
    DBMGR_COMMAND_LIST(DBMGR_CMD_ENTRY)
#undef DBMGR_CMD_ENTRY
};

SHOAL_API void *dbmgr_create(void);
SHOAL_API int dbmgr_init(struct dbmgr *d, struct shoal_context *ctx, const char *args);
SHOAL_API void dbmgr_release(struct dbmgr *d);

void *dbmgr_create(void) {
  struct dbmgr *d = shoal_malloc(sizeof(*d));
  memset(d, 0, sizeof(*d));
  return d;
}

void dbmgr_release(struct dbmgr *d) {
  dbmgr_queue_free(d->queue); /* flushes what is queued first */
  shoal_free(d);
}

/* ---- checking a request ---- */

static int is_name(const struct dbmgr_val *v) {
  if (v->type != DBMGR_STR || v->len == 0 || v->len > DBMGR_MAX_NAME) return 0;
  for (size_t i = 0; i < v->len; i++) {
    char c = v->s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return 0;
  }
  return 1;
}

/* Checks argument k (value v) against spec letter c; 0 or a SHOAL_E* with err. */
static int check_arg(const struct dbmgr *d, const char *cmd, int k, char c, const struct dbmgr_val *v, char *err,
                     size_t errlen) {
  const char *want = NULL;
  switch (c) {
    case 'n':
      if (!is_name(v)) want = "a name (1..64 of A-Z a-z 0-9 _)";
      break;
    case 'a':
      if (v->type != DBMGR_STR || v->len == 0 || v->len > DBMGR_MAX_ACCOUNT || memchr(v->s, 0, v->len))
        want = "an account name (1..128 bytes, no NUL)";
      break;
    case 'b':
      if (v->type != DBMGR_STR) want = "a string (the packed value)";
      else if (v->len > d->cfg.max_value) {
        snprintf(err, errlen, "dbmgr: %s: the value is %zu bytes, over db_max_value_kb (%zu bytes)", cmd, v->len,
                 d->cfg.max_value);
        return SHOAL_ETOOBIG;
      }
      break;
    case 's':
    case 'S':
      if (c == 'S' && v->type == DBMGR_NIL) break;
      if (v->type != DBMGR_STR) want = c == 'S' ? "a string or nil" : "a string";
      else if (v->len > DBMGR_MAX_SHORT) want = "a string of at most 1024 bytes";
      break;
    case 'i':
      if (v->type != DBMGR_INT) want = "an integer";
      break;
    case 'v':
    case 'V':
      if (c == 'V' && v->type == DBMGR_NIL) break;
      if (v->type != DBMGR_INT && v->type != DBMGR_FLOAT && v->type != DBMGR_STR)
        want = c == 'V' ? "an integer, float, string or nil" : "an integer, float or string";
      else if (v->type == DBMGR_STR && v->len > DBMGR_MAX_SHORT) want = "a string of at most 1024 bytes";
      break;
  }
  if (want == NULL) return 0;
  snprintf(err, errlen, "dbmgr: %s: argument %d must be %s, got %s", cmd, k + 1, want, dbmgr_wire_typename(v->type));
  return SHOAL_EINVAL;
}

/* The command's own bounds beyond the argument types. */
static int check_command(const struct dbmgr *d, enum dbmgr_op op, const struct dbmgr_val *a, char *err,
                         size_t errlen) {
  if (op == DBMGR_OP_ENTITY_QUERY && (a[4].i < 1 || a[4].i > DBMGR_MAX_QUERY)) {
    snprintf(err, errlen, "dbmgr: entity_query: limit %lld out of 1..%d", (long long)a[4].i, DBMGR_MAX_QUERY);
    return SHOAL_EINVAL;
  }
  if (op == DBMGR_OP_ENTITY_QUERY && a[3].type != DBMGR_NIL && (a[2].type == DBMGR_STR) != (a[3].type == DBMGR_STR)) {
    snprintf(err, errlen, "dbmgr: entity_query: the bounds must both be numbers or both strings");
    return SHOAL_EINVAL;
  }
  if (op == DBMGR_OP_STALL || op == DBMGR_OP_FAIL_COMMITS || op == DBMGR_OP_LOSE_COMMITS) {
    if (!d->cfg.test_hooks) {
      snprintf(err, errlen, "dbmgr: %s is a test hook (config db_test_hooks = true)", commands[op].name);
      return SHOAL_EINVAL;
    }
    if (op != DBMGR_OP_STALL && (a[0].i < 0 || a[0].i > 1000)) {
      snprintf(err, errlen, "dbmgr: %s: %lld out of 0..1000", commands[op].name, (long long)a[0].i);
      return SHOAL_EINVAL;
    }
    if (op == DBMGR_OP_STALL && (a[0].i < 0 || a[0].i > DBMGR_MAX_STALL)) {
      snprintf(err, errlen, "dbmgr: stall: %lld ms out of 0..%d", (long long)a[0].i, DBMGR_MAX_STALL);
      return SHOAL_EINVAL;
    }
  }
  return 0;
}

/* Decodes and checks msg; returns the request (which keeps msg) or NULL
 * with the error's code in *code and its text in err. */
static struct dbmgr_req *parse(struct dbmgr *d, const void *msg, size_t sz, int *code, char *err, size_t errlen) {
  struct dbmgr_val v[DBMGR_WIRE_MAX_VALUES];
  int n = 0;
  char why[256];
  if (dbmgr_wire_decode(msg, sz, v, DBMGR_WIRE_MAX_VALUES, &n, why, sizeof(why)) != 0) {
    snprintf(err, errlen, "dbmgr: bad request: %s", why);
    *code = SHOAL_EINVAL;
    return NULL;
  }
  if (v[0].type != DBMGR_STR) {
    snprintf(err, errlen, "dbmgr: bad request: the command must be a string, got %s", dbmgr_wire_typename(v[0].type));
    *code = SHOAL_EINVAL;
    return NULL;
  }
  int op = 0;
  while (op < DBMGR_OP_COUNT && !(strlen(commands[op].name) == v[0].len && memcmp(commands[op].name, v[0].s, v[0].len) == 0))
    op++;
  if (op == DBMGR_OP_COUNT) {
    snprintf(err, errlen, "dbmgr: unknown command '%.*s'", (int)(v[0].len > 40 ? 40 : v[0].len), v[0].s);
    *code = SHOAL_EINVAL;
    return NULL;
  }
  const struct command *c = &commands[op];
  const char *spec = c->args;
  size_t fixed = strcspn(spec, "*");
  int pairs = spec[fixed] == '*';
  int nargs = n - 1;
  if ((size_t)nargs < fixed || (!pairs && (size_t)nargs != fixed) || (pairs && (nargs - fixed) % 2 != 0)) {
    snprintf(err, errlen, "dbmgr: %s: expected %zu arguments%s, got %d", c->name, fixed,
             pairs ? " then (column, value) pairs" : "", nargs);
    *code = SHOAL_EINVAL;
    return NULL;
  }
  for (int k = 0; k < nargs; k++) {
    char letter = (size_t)k < fixed ? spec[k] : ((k - fixed) % 2 == 0 ? 'n' : 'V');
    int r = check_arg(d, c->name, k, letter, &v[k + 1], err, errlen);
    if (r != 0) {
      *code = r;
      return NULL;
    }
  }
  int r = check_command(d, (enum dbmgr_op)op, v + 1, err, errlen);
  if (r != 0) {
    *code = r;
    return NULL;
  }
  struct dbmgr_req *req = shoal_malloc(sizeof(*req) + (size_t)nargs * sizeof(struct dbmgr_val));
  memset(req, 0, sizeof(*req));
  req->op = (enum dbmgr_op)op;
  req->write = c->write;
  req->nargs = nargs;
  memcpy(req->arg, v + 1, (size_t)nargs * sizeof(struct dbmgr_val));
  req->msg = (void *)msg;
  return req;
}

/* ---- the callback ---- */

static void refuse(struct dbmgr *d, uint32_t source, int session, int code, const char *text) {
  if (session > 0) shoal_reply_error(d->ctx, source, session, code, text, strlen(text));
  else shoal_log(d->ctx, SHOAL_LOG_DEBUG, "%s (a send from :%08x, not answered)", text, source);
}

static int on_request(struct dbmgr *d, int session, uint32_t source, const void *msg, size_t sz) {
  char err[512];
  int code = 0;
  if (d->exiting) {
    refuse(d, source, session, SHOAL_EEXITING, "dbmgr: exiting");
    return 0;
  }
  struct dbmgr_req *req = parse(d, msg, sz, &code, err, sizeof(err));
  if (req == NULL) {
    refuse(d, source, session, code, err);
    return 0;
  }
  req->source = source;
  req->session = session;
  req->arrival = shoal_now();
  int write = req->write;
  int r = dbmgr_queue_push(d->queue, req);
  if (r != 0) {
    req->msg = NULL; /* the runtime frees it: we return 0 */
    dbmgr_req_free(req);
    if (r == SHOAL_EFULL)
      snprintf(err, sizeof(err), "dbmgr: queue full (db_queue_max=%d %s waiting)", d->cfg.queue_max,
               write ? "writes" : "reads");
    else snprintf(err, sizeof(err), "dbmgr: exiting");
    refuse(d, source, session, r, err);
    return 0;
  }
  return 1; /* the request keeps msg */
}

static int dbmgr_cb(struct shoal_context *ctx, void *ud, int type, int session, uint32_t source, const void *msg,
                    size_t sz) {
  struct dbmgr *d = ud;
  switch (type) {
    case SHOAL_PTYPE_LUA:
      return on_request(d, session, source, msg, sz);
    case SHOAL_PTYPE_SYSTEM:
      if (shoal_system_is(msg, sz, SHOAL_SYSTEM_EXIT) && !d->exiting) {
        d->exiting = 1;
        dbmgr_queue_stop(d->queue); /* the thread answers "flushed" when done */
      }
      return 0;
    case SHOAL_PTYPE_TEXT:
      if (source == shoal_self(ctx) && sz == 7 && memcmp(msg, "flushed", 7) == 0) {
        shoal_log(ctx, SHOAL_LOG_INFO, "dbmgr: flushed, exiting");
        shoal_exit(ctx);
        return 0;
      }
      break;
    case SHOAL_PTYPE_RESPONSE:
    case SHOAL_PTYPE_ERROR:
      return 0;
  }
  if (shoal_is_request(type, session)) refuse(d, source, session, SHOAL_EINVAL, "dbmgr: requests are lua messages");
  return 0;
}

/* ---- init ---- */

static int read_int(const struct shoal_kvline *kv, const char *arg, const char *key, long long lo, long long hi,
                    int *out, struct shoal_context *ctx) {
  long long v = shoal_config_int(key);
  const char *s = shoal_kvline_get(kv, arg);
  if (s && shoal_kvline_int(s, lo, hi, &v) != 0) {
    shoal_log(ctx, SHOAL_LOG_ERROR, "dbmgr: %s=%s: expected a number in %lld..%lld", arg, s, lo, hi);
    return -1;
  }
  *out = (int)v;
  return 0;
}

static int configure(struct dbmgr_config *cfg, const struct shoal_kvline *kv, struct shoal_context *ctx) {
  static const char *const known[] = {"backend", "path", "conninfo", "sync", "batch_max", "batch_ms",
                                      "queue_max", "read_timeout_ms", "max_value_kb", "name", NULL};
  for (int i = 0; i < shoal_kvline_count(kv); i++) {
    int k = 0;
    while (known[k] && strcmp(known[k], shoal_kvline_key(kv, i)) != 0) k++;
    if (known[k] == NULL) {
      shoal_log(ctx, SHOAL_LOG_ERROR, "dbmgr: unknown argument '%s'", shoal_kvline_key(kv, i));
      return -1;
    }
  }
  const char *s = shoal_kvline_get(kv, "backend");
  snprintf(cfg->backend, sizeof(cfg->backend), "%s", s ? s : shoal_config_string("db_backend"));
  s = shoal_kvline_get(kv, "path");
  snprintf(cfg->path, sizeof(cfg->path), "%s", s ? s : shoal_config_string("db_path"));
  /* An argument has no spaces: there a conninfo is a URI (postgresql://...). */
  s = shoal_kvline_get(kv, "conninfo");
  snprintf(cfg->conninfo, sizeof(cfg->conninfo), "%s", s ? s : shoal_config_string("db_conninfo"));
  s = shoal_kvline_get(kv, "sync");
  if (s == NULL) s = shoal_config_string("db_synchronous");
  if (strcmp(s, "full") != 0 && strcmp(s, "normal") != 0) {
    shoal_log(ctx, SHOAL_LOG_ERROR, "dbmgr: synchronous '%s': expected full or normal", s);
    return -1;
  }
  cfg->sync_full = strcmp(s, "full") == 0;
  int kb = 0;
  if (read_int(kv, "batch_max", "db_batch_max", 1, 65536, &cfg->batch_max, ctx) ||
      read_int(kv, "batch_ms", "db_batch_ms", 0, 10000, &cfg->batch_ms, ctx) ||
      read_int(kv, "queue_max", "db_queue_max", 1, 16777216, &cfg->queue_max, ctx) ||
      read_int(kv, "read_timeout_ms", "db_read_timeout_ms", 1, 86400000, &cfg->read_timeout_ms, ctx) ||
      read_int(kv, "max_value_kb", "db_max_value_kb", 1, 65536, &kb, ctx))
    return -1;
  cfg->max_value = (size_t)kb * 1024;
  cfg->test_hooks = shoal_config_bool("db_test_hooks");
  return 0;
}

int dbmgr_init(struct dbmgr *d, struct shoal_context *ctx, const char *args) {
  char err[512];
  d->ctx = ctx;
  struct shoal_kvline *kv = shoal_kvline_parse(args ? args : "", args ? strlen(args) : 0, 0, err, sizeof(err));
  if (kv == NULL) {
    shoal_log(ctx, SHOAL_LOG_ERROR, "dbmgr: bad arguments: %s", err);
    return SHOAL_EINVAL;
  }
  if (configure(&d->cfg, kv, ctx) != 0) {
    shoal_kvline_free(kv);
    return SHOAL_EINVAL;
  }
  const struct dbmgr_backend *be = NULL;
  if (strcmp(d->cfg.backend, dbmgr_sqlite_backend.name) == 0) be = &dbmgr_sqlite_backend;
  if (strcmp(d->cfg.backend, dbmgr_pg_backend.name) == 0) be = &dbmgr_pg_backend;
  if (be == NULL) {
    shoal_log(ctx, SHOAL_LOG_ERROR, "dbmgr: unknown backend '%s' (expected sqlite or postgres)", d->cfg.backend);
    shoal_kvline_free(kv);
    return SHOAL_EINVAL;
  }
  /* Opening makes the schema: a bad path fails the launch, with its reason. */
  void *db = be->open(&d->cfg, err, sizeof(err));
  if (db == NULL) {
    shoal_log(ctx, SHOAL_LOG_ERROR, "dbmgr: %s", err);
    shoal_kvline_free(kv);
    return SHOAL_EINIT;
  }
  d->queue = dbmgr_queue_new(ctx, &d->cfg, be, db);
  if (d->queue == NULL) {
    shoal_kvline_free(kv);
    return SHOAL_EINIT;
  }
  const char *name = shoal_kvline_get(kv, "name");
  if (name && shoal_name(name, shoal_self(ctx)) != 0) {
    shoal_log(ctx, SHOAL_LOG_ERROR, "dbmgr: cannot take the name %s", name);
    shoal_kvline_free(kv);
    return SHOAL_ENAMEEXIST;
  }
  char label[64];
  snprintf(label, sizeof(label), "dbmgr %s", d->cfg.backend);
  shoal_set_label(ctx, label);
  if (be == &dbmgr_sqlite_backend)
    shoal_log(ctx, SHOAL_LOG_INFO, "dbmgr: sqlite %s (synchronous=%s, batch %d writes / %d ms, queue %d)", d->cfg.path,
              d->cfg.sync_full ? "full" : "normal", d->cfg.batch_max, d->cfg.batch_ms, d->cfg.queue_max);
  else /* the conninfo may hold a password: not logged */
    shoal_log(ctx, SHOAL_LOG_INFO, "dbmgr: postgres (db_conninfo; batch %d writes / %d ms, queue %d)", d->cfg.batch_max,
              d->cfg.batch_ms, d->cfg.queue_max);
  shoal_kvline_free(kv);
  shoal_callback(ctx, d, dbmgr_cb);
  return 0;
}
