/*
 * dbmgr_wire.h - the dbmgr's side of the runtime's serializer format
 * (lualib/src/serial_int.h), without a Lua state.
 *
 * A request is a LUA message of scalars only: the command name, then its
 * arguments (nil, booleans, integers, floats, strings). A table anywhere
 * is refused: the Lua client packs an entity into a string itself, so the
 * dbmgr never has to bound the shape of a nested value. Strings point into
 * the message, which the service keeps until the request is answered.
 *
 * A reply is built with the dbmgr_wire_put_* functions: scalars, and one
 * flat array of scalars (a query's rows).
 */
#ifndef SHOAL_DBMGR_WIRE_H
#define SHOAL_DBMGR_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define DBMGR_WIRE_MAX_VALUES 40 /* values in one request: a command and its arguments */

enum dbmgr_vtype { DBMGR_NIL, DBMGR_BOOL, DBMGR_INT, DBMGR_FLOAT, DBMGR_STR };

struct dbmgr_val {
  enum dbmgr_vtype type; /* which member holds the value */
  int64_t i;             /* DBMGR_INT, and DBMGR_BOOL (0 or 1) */
  double d;              /* DBMGR_FLOAT */
  const char *s;         /* DBMGR_STR: the bytes, inside the message (not NUL-terminated) */
  size_t len;            /* DBMGR_STR: their count */
};

/* Decodes the sz bytes at msg into out[0..*n). Returns 0, or SHOAL_EINVAL
 * with one line in err: truncated or malformed data, a table, more than
 * max values, trailing bytes. */
int dbmgr_wire_decode(const void *msg, size_t sz, struct dbmgr_val *out, int max, int *n, char *err,
                      size_t errlen);
/* The type's name for error messages ("nil", "string", ...). */
const char *dbmgr_wire_typename(enum dbmgr_vtype t);

/* A reply under construction: values, then the leading count. */
struct dbmgr_wire_buf {
  unsigned char *p; /* shoal_malloc'ed bytes, with room at the front for the count */
  size_t len;       /* bytes written after the room */
  size_t cap;       /* bytes allocated */
  uint32_t count;   /* top-level values written */
  int array;        /* inside dbmgr_wire_begin_array: values count toward the array */
  size_t array_at;  /* where the array's header was reserved */
  uint32_t items;   /* items of the open array */
};

void dbmgr_wire_init(struct dbmgr_wire_buf *b);
void dbmgr_wire_nil(struct dbmgr_wire_buf *b);
void dbmgr_wire_bool(struct dbmgr_wire_buf *b, int v);
void dbmgr_wire_int(struct dbmgr_wire_buf *b, int64_t v);
void dbmgr_wire_float(struct dbmgr_wire_buf *b, double v);
void dbmgr_wire_str(struct dbmgr_wire_buf *b, const void *s, size_t len);
void dbmgr_wire_val(struct dbmgr_wire_buf *b, const struct dbmgr_val *v);
/* An array table {v1, v2, ...} of the values put until end_array (no nesting). */
void dbmgr_wire_begin_array(struct dbmgr_wire_buf *b);
void dbmgr_wire_end_array(struct dbmgr_wire_buf *b);
/* Finishes the message: returns the shoal_malloc'ed payload (ownership
 * moves to the caller, normally into shoal_send) and its size in *sz. */
void *dbmgr_wire_finish(struct dbmgr_wire_buf *b, size_t *sz);
/* Frees an unfinished reply. */
void dbmgr_wire_discard(struct dbmgr_wire_buf *b);

#endif
