/*
 * kvline.c - parses `VERB key=value ...` lines (see kvline.h).
 */
#include "kvline.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shoal.h"

struct kv_pair {
  const char *key; /* points into text */
  const char *val; /* points into text */
};

struct shoal_kvline {
  const char *verb;                                /* into text; "" when none */
  int n;                                           /* pairs used */
  struct kv_pair pair[SHOAL_KVLINE_MAX_PAIRS];     /* in line order */
  char text[];                                     /* the line, cut into tokens */
};

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (errlen == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

/* Length of the UTF-8 sequence at p (at most n bytes), or 0 when it is
 * malformed: truncated, overlong, a surrogate or past U+10FFFF. */
static size_t utf8_len(const unsigned char *p, size_t n) {
  unsigned c = p[0];
  size_t len;
  unsigned min, cp;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) len = 2, min = 0x80, cp = c & 0x1f;
  else if (c >= 0xe0 && c <= 0xef) len = 3, min = 0x800, cp = c & 0x0f;
  else if (c >= 0xf0 && c <= 0xf4) len = 4, min = 0x10000, cp = c & 0x07;
  else return 0;
  if (n < len) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((p[i] & 0xc0) != 0x80) return 0;
    cp = cp << 6 | (p[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

/* Control characters other than the tab would garble logs and need
 * escapes in every consumer; the protocol has no use for them. */
static int check_text(const char *text, size_t len, char *err, size_t errlen) {
  const unsigned char *p = (const unsigned char *)text;
  size_t i = 0;
  while (i < len) {
    if (p[i] < 0x20 && p[i] != '\t') {
      set_err(err, errlen, "control character 0x%02x at byte %zu", p[i], i);
      return -1;
    }
    if (p[i] == 0x7f) {
      set_err(err, errlen, "control character 0x7f at byte %zu", i);
      return -1;
    }
    size_t n = utf8_len(p + i, len - i);
    if (n == 0) {
      set_err(err, errlen, "bad UTF-8 at byte %zu", i);
      return -1;
    }
    i += n;
  }
  return 0;
}

static int key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         c == '-';
}

/* Splits one token into its pair; the token is NUL-terminated in place. */
static int add_pair(struct shoal_kvline *kv, char *tok, char *err, size_t errlen) {
  char *eq = strchr(tok, '=');
  if (eq == NULL) {
    set_err(err, errlen, "'%.64s' is not key=value", tok);
    return -1;
  }
  *eq = '\0';
  if (tok[0] == '\0') {
    set_err(err, errlen, "'=%.64s' has no key", eq + 1);
    return -1;
  }
  for (const char *k = tok; *k; k++) {
    if (!key_char(*k)) {
      set_err(err, errlen, "bad key '%.64s' (letters, digits, '_', '.', '-')", tok);
      return -1;
    }
  }
  if (eq[1] == '\0') {
    set_err(err, errlen, "%.64s= has an empty value", tok);
    return -1;
  }
  if (shoal_kvline_get(kv, tok) != NULL) {
    set_err(err, errlen, "key %.64s given twice", tok);
    return -1;
  }
  if (kv->n == SHOAL_KVLINE_MAX_PAIRS) {
    set_err(err, errlen, "more than %d key=value pairs", SHOAL_KVLINE_MAX_PAIRS);
    return -1;
  }
  kv->pair[kv->n].key = tok;
  kv->pair[kv->n].val = eq + 1;
  kv->n++;
  return 0;
}

struct shoal_kvline *shoal_kvline_parse(const char *text, size_t len, int flags, char *err, size_t errlen) {
  if (errlen) err[0] = '\0';
  while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r')) len--;
  if (check_text(text, len, err, errlen) != 0) return NULL;
  struct shoal_kvline *kv = shoal_malloc(sizeof(*kv) + len + 1);
  kv->verb = "";
  kv->n = 0;
  memcpy(kv->text, text, len);
  kv->text[len] = '\0';
  char *save = NULL;
  char *tok = strtok_r(kv->text, " \t", &save);
  if (flags & SHOAL_KVLINE_VERB) {
    if (tok == NULL) {
      set_err(err, errlen, "empty request");
      shoal_free(kv);
      return NULL;
    }
    kv->verb = tok;
    tok = strtok_r(NULL, " \t", &save);
  }
  for (; tok; tok = strtok_r(NULL, " \t", &save)) {
    if (add_pair(kv, tok, err, errlen) != 0) {
      shoal_free(kv);
      return NULL;
    }
  }
  return kv;
}

void shoal_kvline_free(struct shoal_kvline *kv) { shoal_free(kv); }

const char *shoal_kvline_verb(const struct shoal_kvline *kv) { return kv->verb; }

int shoal_kvline_count(const struct shoal_kvline *kv) { return kv->n; }

const char *shoal_kvline_key(const struct shoal_kvline *kv, int i) { return kv->pair[i].key; }

const char *shoal_kvline_value(const struct shoal_kvline *kv, int i) { return kv->pair[i].val; }

const char *shoal_kvline_get(const struct shoal_kvline *kv, const char *key) {
  for (int i = 0; i < kv->n; i++)
    if (strcmp(kv->pair[i].key, key) == 0) return kv->pair[i].val;
  return NULL;
}

int shoal_kvline_int(const char *s, long long lo, long long hi, long long *out) {
  /* strtoll alone would also accept leading blanks and a '+'. */
  if (s == NULL || !((s[0] >= '0' && s[0] <= '9') || (s[0] == '-' && s[1] >= '0' && s[1] <= '9'))) return -1;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno != 0 || *end != '\0' || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}
