/*
 * logger - the logger service. Writes one line per message:
 *   2026-11-21 10:00:00.123 INFO [:01000002] text
 * or, with log_format = "json", one JSON object per line (docs/operations.md,
 * "Logs"): time, node, service, address, level and text, and for a line
 * that carries an event ("failover: event=node_dead node=6 ...") the event
 * and its key=value fields, so a log pipeline can filter on them. Written
 * to the file named in its argument (appending), or to stdout when none.
 * Every line is escaped and capped by shoal_log_escape (see shoal.h), so a
 * message, whoever sent it, is exactly one printable line.
 * SYSTEM "REOPEN" (sent on SIGHUP) reopens the file, for log rotation.
 * SYSTEM "EXIT" flushes and exits (the node stops the logger last).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "json.h"
#include "shoal.h"

struct logger {
  FILE *out;   /* stdout or the log file */
  char *path;  /* log file path, NULL for stdout */
  char *line;  /* SHOAL_LOG_ESCAPED_MAX bytes: the escaped text of one line */
  struct shoal_json *json; /* log_format json: the line being written; NULL for text */
};

SHOAL_API void *logger_create(void);
SHOAL_API int logger_init(struct logger *l, struct shoal_context *ctx, const char *args);
SHOAL_API void logger_release(struct logger *l);

void *logger_create(void) {
  struct logger *l = shoal_malloc(sizeof(*l));
  l->out = NULL;
  l->path = NULL;
  l->line = shoal_malloc(SHOAL_LOG_ESCAPED_MAX);
  l->json = NULL;
  return l;
}

void logger_release(struct logger *l) {
  if (l->out && l->out != stdout) fclose(l->out);
  else if (l->out) fflush(stdout);
  shoal_free(l->path);
  shoal_free(l->line);
  if (l->json) shoal_json_free(l->json);
  shoal_free(l);
}

static const char *level_name(int level) {
  static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
  return level >= 0 && level < 4 ? names[level] : "INFO";
}

/* Keys a JSON line sets itself: an event's field of the same name is
 * written with a "field_" prefix instead of overwriting it. */
static int reserved_key(const char *k) {
  static const char *keys[] = {"time", "unix_ms", "node", "service", "addr", "level", "msg", "event"};
  for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
    if (strcmp(k, keys[i]) == 0) return 1;
  return 0;
}

/* The service's name: a Lua service's own (the first word of its label,
 * "baseapp" of "baseapp 3"), else its module; "node" for the node itself. */
static void service_name(uint32_t source, char *out, size_t outlen) {
  struct shoal_service_stat st;
  if (source == 0 || shoal_stat(source, &st) != 0) {
    snprintf(out, outlen, "%s", source == 0 ? "node" : "?");
    return;
  }
  const char *name = strcmp(st.module, "snlua") == 0 && st.label[0] ? st.label : st.module;
  size_t n = strcspn(name, " ");
  snprintf(out, outlen, "%.*s", (int)(n < outlen ? n : outlen - 1), name);
}

/* The line's key=value pairs, from the token "event=" or "alert=" on (at
 * the start or after a space): a value is a run of non-space bytes or a
 * "quoted string" (Lua's %q: \" and \\ inside); the pairs end at the
 * first token that is neither (free text after them). */
static const char *pairs_start(const char *text) {
  static const char *marks[] = {"event=", "alert="};
  const char *best = NULL;
  for (int m = 0; m < 2; m++) {
    const char *p = text;
    while ((p = strstr(p, marks[m])) != NULL && p != text && p[-1] != ' ') p++;
    if (p && (best == NULL || p < best)) best = p;
  }
  return best;
}

static void json_event(struct shoal_json *j, const char *text) {
  const char *p = pairs_start(text);
  if (p == NULL) return;
  char key[80];
  char *value = shoal_malloc(strlen(p) + 1); /* a value is never longer than the rest of the line */
  while (*p) {
    size_t k = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-");
    if (k == 0 || k >= sizeof(key) - 8 || p[k] != '=') break;
    snprintf(key, sizeof(key), "%.*s", (int)k, p);
    p += k + 1;
    size_t n = 0;
    if (*p == '"') {
      p++;
      while (*p && *p != '"') {
        if (*p == '\\' && (p[1] == '"' || p[1] == '\\')) p++;
        value[n++] = *p;
        p++;
      }
      if (*p != '"') break; /* an unterminated string: not a pair */
      p++;
    } else {
      while (*p && *p != ' ') value[n++] = *p++;
      if (n == 0) break;
    }
    value[n] = '\0';
    if (strcmp(key, "event") != 0 && reserved_key(key)) {
      char pre[88];
      snprintf(pre, sizeof(pre), "field_%s", key);
      shoal_json_key(j, pre);
    } else {
      shoal_json_key(j, key);
    }
    shoal_json_str(j, value);
    while (*p == ' ') p++;
  }
  shoal_free(value);
}

static void write_json(struct logger *l, const char *stamp, struct timeval *tv, int level, uint32_t source) {
  struct shoal_json *j = l->json;
  char svc[64], addr[16];
  service_name(source, svc, sizeof(svc));
  snprintf(addr, sizeof(addr), ":%08x", source);
  static const char *levels[] = {"debug", "info", "warn", "error"};
  shoal_json_reset(j);
  shoal_json_raw(j, "{", 1);
  shoal_json_key(j, "time");
  shoal_json_str(j, stamp);
  shoal_json_key(j, "unix_ms");
  shoal_json_int(j, (long long)tv->tv_sec * 1000 + tv->tv_usec / 1000);
  shoal_json_key(j, "node");
  shoal_json_int(j, (long long)shoal_node_self());
  shoal_json_key(j, "service");
  shoal_json_str(j, svc);
  shoal_json_key(j, "addr");
  shoal_json_str(j, addr);
  shoal_json_key(j, "level");
  shoal_json_str(j, level >= 0 && level < 4 ? levels[level] : "info");
  shoal_json_key(j, "msg");
  shoal_json_str(j, l->line); /* escaped: printable UTF-8, so valid JSON text */
  json_event(j, l->line);
  shoal_json_raw(j, "}\n", 2);
  size_t len;
  const char *data = shoal_json_data(j, &len);
  fwrite(data, 1, len, l->out);
}

static void write_line(struct logger *l, int level, uint32_t source, const char *text, size_t len) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  struct tm tm;
  localtime_r(&tv.tv_sec, &tm);
  char stamp[40];
  size_t n = shoal_log_escape(l->line, text, len);
  if (l->json) {
    char sec[24], zone[8];
    strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm);
    strftime(zone, sizeof(zone), "%z", &tm);
    snprintf(stamp, sizeof(stamp), "%s.%03d%s", sec, (int)(tv.tv_usec / 1000), zone);
    write_json(l, stamp, &tv, level, source);
    return;
  }
  strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
  fprintf(l->out, "%s.%03d %-5s [:%08x] %.*s\n", stamp, (int)(tv.tv_usec / 1000), level_name(level),
          source, (int)n, l->line);
}

static int reopen(struct logger *l) {
  if (l->path == NULL) return 0;
  FILE *f = fopen(l->path, "a");
  if (f == NULL) return -errno;
  setvbuf(f, NULL, _IOLBF, 0);
  if (l->out && l->out != stdout) fclose(l->out);
  l->out = f;
  return 0;
}

static int logger_cb(struct shoal_context *ctx, void *ud, int type, int session, uint32_t source,
                     const void *msg, size_t sz) {
  struct logger *l = ud;
  const char *text = msg;
  if (type == SHOAL_PTYPE_TEXT) {
    int level = SHOAL_LOG_INFO;
    if (sz > 0 && (unsigned char)text[0] < 8) {
      level = text[0];
      text++;
      sz--;
    }
    write_line(l, level, source, text, sz);
  } else if (type == SHOAL_PTYPE_SYSTEM) {
    if (shoal_system_is(text, sz, SHOAL_SYSTEM_REOPEN)) {
      int r = reopen(l);
      if (r != 0) {
        char why[160];
        snprintf(why, sizeof(why), "logger: cannot reopen %s: %s", l->path, strerror(-r));
        write_line(l, SHOAL_LOG_ERROR, shoal_self(ctx), why, strlen(why));
      } else {
        write_line(l, SHOAL_LOG_INFO, shoal_self(ctx), "logger: reopened", 16);
      }
    } else if (shoal_system_is(text, sz, SHOAL_SYSTEM_EXIT)) {
      fflush(l->out);
      shoal_exit(ctx);
    }
  }
  return 0;
}

int logger_init(struct logger *l, struct shoal_context *ctx, const char *args) {
  if (strcmp(shoal_config_string("log_format"), "json") == 0) l->json = shoal_json_new();
  if (args && args[0]) {
    l->path = shoal_strdup(args);
    int r = reopen(l);
    if (r != 0) return SHOAL_EINVAL; /* the config check names the file */
  } else {
    l->out = stdout;
    setvbuf(stdout, NULL, _IOLBF, 0);
  }
  shoal_callback(ctx, l, logger_cb);
  return 0;
}
