/*
 * logger - the logger service. Writes one line per message:
 *   2026-11-21 10:00:00.123 INFO [:01000002] text
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

#include "shoal.h"

struct logger {
  FILE *out;   /* stdout or the log file */
  char *path;  /* log file path, NULL for stdout */
  char *line;  /* SHOAL_LOG_ESCAPED_MAX bytes: the escaped text of one line */
};

SHOAL_API void *logger_create(void);
SHOAL_API int logger_init(struct logger *l, struct shoal_context *ctx, const char *args);
SHOAL_API void logger_release(struct logger *l);

void *logger_create(void) {
  struct logger *l = shoal_malloc(sizeof(*l));
  l->out = NULL;
  l->path = NULL;
  l->line = shoal_malloc(SHOAL_LOG_ESCAPED_MAX);
  return l;
}

void logger_release(struct logger *l) {
  if (l->out && l->out != stdout) fclose(l->out);
  else if (l->out) fflush(stdout);
  shoal_free(l->path);
  shoal_free(l->line);
  shoal_free(l);
}

static const char *level_name(int level) {
  static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
  return level >= 0 && level < 4 ? names[level] : "INFO";
}

static void write_line(struct logger *l, int level, uint32_t source, const char *text, size_t len) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  struct tm tm;
  localtime_r(&tv.tv_sec, &tm);
  char stamp[32];
  strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
  size_t n = shoal_log_escape(l->line, text, len);
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
