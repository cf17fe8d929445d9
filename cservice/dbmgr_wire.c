/*
 * dbmgr_wire.c - decoding requests and encoding replies in the runtime's
 * serializer format (see dbmgr_wire.h and lualib/src/serial_int.h).
 */
#include "dbmgr_wire.h"

#include <stdio.h>
#include <string.h>

#include "serial_int.h"
#include "shoal.h"

#define FRONT 10       /* room for the leading varint count */
#define ARRAY_HEAD 12  /* a table tag, a varint item count, a varint 0 (no hash pairs) */

/* ---- decode ---- */

struct reader {
  const unsigned char *p; /* next byte */
  const unsigned char *end;
};

static int get_varint(struct reader *r, uint64_t *out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (r->p >= r->end) return -1;
    unsigned char c = *r->p++;
    v |= (uint64_t)(c & 0x7f) << shift;
    if (!(c & 0x80)) {
      *out = v;
      return 0;
    }
  }
  return -1;
}

/* Little-endian n-byte two's complement integer. */
static int get_int(struct reader *r, int n, int64_t *out) {
  if (r->end - r->p < n) return -1;
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v |= (uint64_t)r->p[i] << (8 * i);
  r->p += n;
  if (n < 8) {
    uint64_t sign = (uint64_t)1 << (8 * n - 1);
    v = (v ^ sign) - sign;
  }
  *out = (int64_t)v;
  return 0;
}

static int get_str(struct reader *r, uint64_t len, struct dbmgr_val *v) {
  if ((uint64_t)(r->end - r->p) < len) return -1;
  v->type = DBMGR_STR;
  v->s = (const char *)r->p;
  v->len = (size_t)len;
  r->p += len;
  return 0;
}

/* One scalar; -1 when truncated, -2 for a table, -3 for a reserved tag. */
static int get_value(struct reader *r, struct dbmgr_val *v) {
  if (r->p >= r->end) return -1;
  unsigned char tag = *r->p++;
  memset(v, 0, sizeof(*v));
  if (tag <= SERIAL_FIXINT_MAX) {
    v->type = DBMGR_INT;
    v->i = tag;
    return 0;
  }
  if (tag >= SERIAL_TAG_NEGFIX) {
    v->type = DBMGR_INT;
    v->i = (int64_t)(int8_t)tag;
    return 0;
  }
  if (tag < SERIAL_TAG_FIXTABLE) return get_str(r, tag & 0x3f, v);
  int64_t i;
  uint64_t len;
  switch (tag) {
    case SERIAL_TAG_NIL: v->type = DBMGR_NIL; return 0;
    case SERIAL_TAG_FALSE: v->type = DBMGR_BOOL; return 0;
    case SERIAL_TAG_TRUE: v->type = DBMGR_BOOL; v->i = 1; return 0;
    case SERIAL_TAG_INT8: if (get_int(r, 1, &i)) return -1; break;
    case SERIAL_TAG_INT16: if (get_int(r, 2, &i)) return -1; break;
    case SERIAL_TAG_INT32: if (get_int(r, 4, &i)) return -1; break;
    case SERIAL_TAG_INT64: if (get_int(r, 8, &i)) return -1; break;
    case SERIAL_TAG_FLOAT32: {
      float f;
      if (r->end - r->p < 4) return -1;
      memcpy(&f, r->p, 4); /* little-endian hosts only, like serial.c */
      r->p += 4;
      v->type = DBMGR_FLOAT;
      v->d = f;
      return 0;
    }
    case SERIAL_TAG_FLOAT64:
      if (r->end - r->p < 8) return -1;
      memcpy(&v->d, r->p, 8);
      r->p += 8;
      v->type = DBMGR_FLOAT;
      return 0;
    case SERIAL_TAG_STR8: if (get_int(r, 1, &i)) return -1; return get_str(r, (uint8_t)i, v);
    case SERIAL_TAG_STR16: if (get_int(r, 2, &i)) return -1; return get_str(r, (uint16_t)i, v);
    case SERIAL_TAG_STR32: if (get_int(r, 4, &i)) return -1; return get_str(r, (uint32_t)i, v);
    case SERIAL_TAG_STR64:
      if (get_int(r, 8, &i)) return -1;
      len = (uint64_t)i;
      return get_str(r, len, v);
    default:
      return tag <= SERIAL_TAG_TABLE ? -2 : -3;
  }
  v->type = DBMGR_INT;
  v->i = i;
  return 0;
}

int dbmgr_wire_decode(const void *msg, size_t sz, struct dbmgr_val *out, int max, int *n, char *err,
                      size_t errlen) {
  struct reader r = {msg, (const unsigned char *)msg + sz};
  uint64_t count;
  if (msg == NULL || get_varint(&r, &count) != 0) {
    snprintf(err, errlen, "not a serialized request (%zu bytes)", sz);
    return SHOAL_EINVAL;
  }
  if (count == 0 || count > (uint64_t)max) {
    snprintf(err, errlen, "a request is a command and at most %d arguments, got %llu values", max - 1,
             (unsigned long long)count);
    return SHOAL_EINVAL;
  }
  for (uint64_t k = 0; k < count; k++) {
    int e = get_value(&r, &out[k]);
    if (e == -2) {
      snprintf(err, errlen, "value %llu is a table: requests take scalars only (pack an entity into a string)",
               (unsigned long long)k + 1);
      return SHOAL_EINVAL;
    }
    if (e != 0) {
      snprintf(err, errlen, "value %llu: %s", (unsigned long long)k + 1, e == -1 ? "truncated" : "bad tag");
      return SHOAL_EINVAL;
    }
  }
  if (r.p != r.end) {
    snprintf(err, errlen, "%zu bytes after the last value", (size_t)(r.end - r.p));
    return SHOAL_EINVAL;
  }
  *n = (int)count;
  return 0;
}

const char *dbmgr_wire_typename(enum dbmgr_vtype t) {
  static const char *names[] = {"nil", "boolean", "integer", "float", "string"};
  return t <= DBMGR_STR ? names[t] : "?";
}

/* ---- encode ---- */

void dbmgr_wire_init(struct dbmgr_wire_buf *b) {
  memset(b, 0, sizeof(*b));
  b->cap = 128;
  b->p = shoal_malloc(b->cap);
  b->len = FRONT;
}

static unsigned char *room(struct dbmgr_wire_buf *b, size_t n) {
  if (b->cap - b->len < n) {
    size_t cap = b->cap * 2;
    while (cap - b->len < n) cap *= 2;
    b->p = shoal_realloc(b->p, cap);
    b->cap = cap;
  }
  unsigned char *at = b->p + b->len;
  b->len += n;
  return at;
}

static void counted(struct dbmgr_wire_buf *b) {
  if (b->array) b->items++;
  else b->count++;
}

static size_t put_varint(unsigned char *out, uint64_t v) {
  size_t n = 0;
  do {
    unsigned char c = v & 0x7f;
    v >>= 7;
    out[n++] = (unsigned char)(c | (v ? 0x80 : 0));
  } while (v);
  return n;
}

static void put_le(unsigned char *out, uint64_t v, int n) {
  for (int i = 0; i < n; i++) out[i] = (unsigned char)(v >> (8 * i));
}

void dbmgr_wire_nil(struct dbmgr_wire_buf *b) {
  *room(b, 1) = SERIAL_TAG_NIL;
  counted(b);
}

void dbmgr_wire_bool(struct dbmgr_wire_buf *b, int v) {
  *room(b, 1) = v ? SERIAL_TAG_TRUE : SERIAL_TAG_FALSE;
  counted(b);
}

void dbmgr_wire_int(struct dbmgr_wire_buf *b, int64_t v) {
  if (v >= SERIAL_FIXINT_MIN && v <= SERIAL_FIXINT_MAX) {
    *room(b, 1) = (unsigned char)(int8_t)v;
  } else if (v >= INT32_MIN && v <= INT32_MAX) {
    unsigned char *p = room(b, 5);
    p[0] = SERIAL_TAG_INT32;
    put_le(p + 1, (uint64_t)v, 4);
  } else {
    unsigned char *p = room(b, 9);
    p[0] = SERIAL_TAG_INT64;
    put_le(p + 1, (uint64_t)v, 8);
  }
  counted(b);
}

void dbmgr_wire_float(struct dbmgr_wire_buf *b, double v) {
  unsigned char *p = room(b, 9);
  p[0] = SERIAL_TAG_FLOAT64;
  memcpy(p + 1, &v, 8);
  counted(b);
}

void dbmgr_wire_str(struct dbmgr_wire_buf *b, const void *s, size_t len) {
  if (len <= SERIAL_FIXSTR_MAX) {
    unsigned char *p = room(b, 1 + len);
    p[0] = (unsigned char)(SERIAL_TAG_FIXSTR | len);
    if (len) memcpy(p + 1, s, len);
  } else {
    unsigned char *p = room(b, 9 + len);
    p[0] = SERIAL_TAG_STR64; /* the reader takes any width; 8 extra bytes do not matter */
    put_le(p + 1, (uint64_t)len, 8);
    memcpy(p + 9, s, len);
  }
  counted(b);
}

void dbmgr_wire_val(struct dbmgr_wire_buf *b, const struct dbmgr_val *v) {
  switch (v->type) {
    case DBMGR_NIL: dbmgr_wire_nil(b); break;
    case DBMGR_BOOL: dbmgr_wire_bool(b, (int)v->i); break;
    case DBMGR_INT: dbmgr_wire_int(b, v->i); break;
    case DBMGR_FLOAT: dbmgr_wire_float(b, v->d); break;
    case DBMGR_STR: dbmgr_wire_str(b, v->s, v->len); break;
  }
}

void dbmgr_wire_begin_array(struct dbmgr_wire_buf *b) {
  b->array_at = b->len;
  room(b, ARRAY_HEAD);
  b->array = 1;
  b->items = 0;
}

void dbmgr_wire_end_array(struct dbmgr_wire_buf *b) {
  unsigned char head[ARRAY_HEAD];
  size_t n = 0;
  head[n++] = SERIAL_TAG_TABLE;
  n += put_varint(head + n, b->items);
  head[n++] = 0; /* no hash pairs */
  unsigned char *at = b->p + b->array_at;
  size_t tail = b->len - b->array_at - ARRAY_HEAD;
  memcpy(at, head, n);
  memmove(at + n, at + ARRAY_HEAD, tail);
  b->len -= ARRAY_HEAD - n;
  b->array = 0;
  b->count++;
}

void *dbmgr_wire_finish(struct dbmgr_wire_buf *b, size_t *sz) {
  unsigned char head[FRONT];
  size_t n = put_varint(head, b->count);
  memmove(b->p + n, b->p + FRONT, b->len - FRONT);
  memcpy(b->p, head, n);
  *sz = b->len - FRONT + n;
  void *p = b->p;
  b->p = NULL;
  return p;
}

void dbmgr_wire_discard(struct dbmgr_wire_buf *b) {
  shoal_free(b->p);
  b->p = NULL;
}
