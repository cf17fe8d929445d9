/*
 * log.c - logging front end (see log.h).
 */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "context.h"

static atomic_int log_level = SHOAL_LOG_INFO;
static atomic_uint logger_handle;

static const char *level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void shoal_log_init(int level) {
  atomic_store(&log_level, level);
  atomic_store(&logger_handle, 0);
}

void shoal_log_set_logger(uint32_t handle) { atomic_store(&logger_handle, handle); }
uint32_t shoal_log_logger(void) { return atomic_load(&logger_handle); }
int shoal_log_getlevel(void) { return atomic_load_explicit(&log_level, memory_order_relaxed); }

void shoal_log_setlevel(int level) {
  if (level >= SHOAL_LOG_DEBUG && level <= SHOAL_LOG_ERROR) atomic_store(&log_level, level);
}

int shoal_log_parse_level(const char *name) {
  if (name == NULL) return -1;
  for (int i = 0; i < 4; i++)
    if (strcasecmp(name, level_names[i]) == 0) return i;
  if (strcasecmp(name, "warning") == 0) return SHOAL_LOG_WARN;
  return -1;
}

const char *shoal_log_level_name(int level) {
  return level >= 0 && level < 4 ? level_names[level] : "?";
}

int shoal_log_enabled(int level) { return level >= shoal_log_getlevel(); }

void shoal_log_send(uint32_t source, int level, const char *text, size_t len) {
  uint32_t logger = atomic_load_explicit(&logger_handle, memory_order_acquire);
  if (logger) {
    char *buf = shoal_malloc(len + 1);
    buf[0] = (char)level;
    memcpy(buf + 1, text, len);
    struct shoal_message m = {source, 0, buf, (uint32_t)(len + 1), SHOAL_PTYPE_TEXT};
    if (shoal_context_push(logger, &m) == 0) return;
    shoal_free(buf);
  }
  fprintf(stderr, "%s [:%08x] %.*s\n", shoal_log_level_name(level), source, (int)len, text);
}

void shoal_log(struct shoal_context *ctx, int level, const char *fmt, ...) {
  if (!shoal_log_enabled(level)) return;
  char line[SHOAL_LOG_LINE_MAX];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof(line)) n = sizeof(line) - 1;
  shoal_log_send(ctx ? shoal_self(ctx) : 0, level, line, (size_t)n);
}
