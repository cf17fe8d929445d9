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

/* ---- escaping (see shoal.h): one message, one printable line */

static const char hex_digits[] = "0123456789abcdef";

/* Length of the valid UTF-8 character at p (n bytes left), or 0 when the
 * byte there starts none: a stray continuation byte, an overlong form, a
 * surrogate, a code point over U+10FFFF, a cut sequence, or a C1 control
 * (U+0080..U+009F, which some terminals obey like ESC sequences). */
static size_t utf8_char(const unsigned char *p, size_t n) {
  size_t need;
  uint32_t cp;
  if (p[0] >= 0xc2 && p[0] <= 0xdf) need = 2, cp = p[0] & 0x1fu;
  else if (p[0] >= 0xe0 && p[0] <= 0xef) need = 3, cp = p[0] & 0x0fu;
  else if (p[0] >= 0xf0 && p[0] <= 0xf4) need = 4, cp = p[0] & 0x07u;
  else return 0;
  if (n < need) return 0;
  for (size_t i = 1; i < need; i++) {
    if ((p[i] & 0xc0) != 0x80) return 0;
    cp = cp << 6 | (p[i] & 0x3fu);
  }
  if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000)) return 0; /* overlong */
  if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff || cp <= 0x9f) return 0;
  return need;
}

size_t shoal_log_escape(char *out, const char *text, size_t len) {
  const unsigned char *p = (const unsigned char *)text;
  size_t o = 0;
  while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\r')) len--; /* the line's own end */
  for (size_t i = 0; i < len;) {
    char esc[4];
    const char *piece = (const char *)p + i;
    size_t take = 1, plen = 1;
    unsigned char c = p[i];
    if (c >= 0x20 && c < 0x7f) {
      /* plain ASCII: the usual case, copied as is */
    } else if (c == '\n' || c == '\r' || c == '\t') {
      esc[0] = '\\';
      esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
      piece = esc, plen = 2;
    } else if (c >= 0x80 && (take = utf8_char(p + i, len - i)) > 0) {
      plen = take;
    } else {
      take = 1;
      esc[0] = '\\', esc[1] = 'x', esc[2] = hex_digits[c >> 4], esc[3] = hex_digits[c & 15];
      piece = esc, plen = 4;
    }
    if (o + plen > SHOAL_LOG_LINE_MAX) {
      memcpy(out + o, SHOAL_LOG_CUT_MARK, sizeof(SHOAL_LOG_CUT_MARK));
      return o + sizeof(SHOAL_LOG_CUT_MARK) - 1;
    }
    memcpy(out + o, piece, plen);
    o += plen;
    i += take;
  }
  out[o] = '\0';
  return o;
}

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
  /* No logger: this is the only other place a line is written, so it is
   * escaped here the same way the logger does it. */
  char *line = shoal_malloc(SHOAL_LOG_ESCAPED_MAX);
  size_t n = shoal_log_escape(line, text, len);
  fprintf(stderr, "%s [:%08x] %.*s\n", shoal_log_level_name(level), source, (int)n, line);
  shoal_free(line);
}

void shoal_log_text(struct shoal_context *ctx, int level, const char *text, size_t len) {
  if (!shoal_log_enabled(level)) return;
  if (len > SHOAL_LOG_LINE_MAX + 1) len = SHOAL_LOG_LINE_MAX + 1; /* the logger marks the cut */
  shoal_log_send(ctx ? shoal_self(ctx) : 0, level, text, len);
}

void shoal_log(struct shoal_context *ctx, int level, const char *fmt, ...) {
  if (!shoal_log_enabled(level)) return;
  /* One byte over the line's limit, so the logger sees the text is too
   * long and marks the cut (a longer text is cut here already). */
  char line[SHOAL_LOG_LINE_MAX + 2];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof(line)) n = sizeof(line) - 1;
  shoal_log_send(ctx ? shoal_self(ctx) : 0, level, line, (size_t)n);
}
