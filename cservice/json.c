/*
 * json.c - a growable buffer for writing JSON text (see json.h).
 */
#include "json.h"

#include <stdio.h>
#include <string.h>

#include "shoal.h"

struct shoal_json {
  char *buf;  /* the text, owned */
  size_t len; /* bytes used */
  size_t cap; /* bytes allocated */
};

struct shoal_json *shoal_json_new(void) {
  struct shoal_json *j = shoal_malloc(sizeof(*j));
  j->cap = 256;
  j->len = 0;
  j->buf = shoal_malloc(j->cap);
  return j;
}

void shoal_json_free(struct shoal_json *j) {
  if (j == NULL) return;
  shoal_free(j->buf);
  shoal_free(j);
}

void shoal_json_reset(struct shoal_json *j) { j->len = 0; }

static void reserve(struct shoal_json *j, size_t n) {
  if (j->cap - j->len >= n) return;
  while (j->cap - j->len < n) j->cap *= 2;
  j->buf = shoal_realloc(j->buf, j->cap);
}

void shoal_json_raw(struct shoal_json *j, const char *s, size_t n) {
  reserve(j, n);
  memcpy(j->buf + j->len, s, n);
  j->len += n;
}

void shoal_json_lit(struct shoal_json *j, const char *s) { shoal_json_raw(j, s, strlen(s)); }

void shoal_json_str(struct shoal_json *j, const char *s) {
  static const char hex[] = "0123456789abcdef";
  size_t n = strlen(s);
  reserve(j, n * 6 + 2); /* the worst case: every byte a \u00XX */
  char *o = j->buf + j->len;
  *o++ = '"';
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    unsigned c = *p;
    if (c == '"' || c == '\\') {
      *o++ = '\\';
      *o++ = (char)c;
    } else if (c == '\n') {
      *o++ = '\\';
      *o++ = 'n';
    } else if (c == '\t') {
      *o++ = '\\';
      *o++ = 't';
    } else if (c < 0x20 || c == 0x7f) {
      memcpy(o, "\\u00", 4);
      o[4] = hex[c >> 4];
      o[5] = hex[c & 15];
      o += 6;
    } else {
      *o++ = (char)c;
    }
  }
  *o++ = '"';
  j->len = (size_t)(o - j->buf);
}

void shoal_json_int(struct shoal_json *j, long long v) {
  char num[24];
  int n = snprintf(num, sizeof(num), "%lld", v);
  shoal_json_raw(j, num, (size_t)n);
}

void shoal_json_sep(struct shoal_json *j) {
  if (j->len > 0 && j->buf[j->len - 1] != '{' && j->buf[j->len - 1] != '[') shoal_json_raw(j, ",", 1);
}

void shoal_json_key(struct shoal_json *j, const char *key) {
  shoal_json_sep(j);
  shoal_json_str(j, key);
  shoal_json_raw(j, ":", 1);
}

const char *shoal_json_data(const struct shoal_json *j, size_t *len) {
  *len = j->len;
  return j->buf;
}

char *shoal_json_copy(const struct shoal_json *j, size_t *len) {
  char *out = shoal_malloc(j->len ? j->len : 1);
  memcpy(out, j->buf, j->len);
  *len = j->len;
  return out;
}

static const char *digits(const char *p) {
  while (*p >= '0' && *p <= '9') p++;
  return p;
}

int shoal_json_is_number(const char *s) {
  const char *p = s;
  if (*p == '-') p++;
  if (*p == '0') p++;
  else if (*p >= '1' && *p <= '9') p = digits(p);
  else return 0;
  if (*p == '.') {
    const char *q = digits(p + 1);
    if (q == p + 1) return 0;
    p = q;
  }
  if (*p == 'e' || *p == 'E') {
    p++;
    if (*p == '+' || *p == '-') p++;
    const char *q = digits(p);
    if (q == p) return 0;
    p = q;
  }
  return *p == '\0';
}
