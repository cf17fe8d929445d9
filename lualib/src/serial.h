/*
 * serial.h - fast binary serializer for Lua values.
 *
 * Encodes nil, booleans, integers, floats, strings and nested tables (no
 * functions, userdata, threads; no cycles) into one contiguous buffer.
 * The buffer is allocated with malloc (jemalloc in the node) and ownership
 * passes to the caller, which normally hands it to shoal_send.
 */
#ifndef SHOAL_SERIAL_H
#define SHOAL_SERIAL_H

#include <stddef.h>
#include <lua.h>

#define SHOAL_SERIAL_DEFAULT_LIMIT (64u * 1024u * 1024u) /* bytes per message */
#define SHOAL_SERIAL_MAX_DEPTH 64                       /* table nesting */

/* Packs the values at stack indexes [from, lua_gettop(L)] (nothing when
 * from > top). Returns a malloc'ed buffer and sets *sz. On unsupported
 * values, cycles, nesting over the max depth or a result over the limit it
 * raises a Lua error with a clear message and leaks nothing. */
void *shoal_serial_pack(lua_State *L, int from, size_t *sz);
/* Unpacks a buffer, pushing its values; returns how many were pushed.
 * Malformed or truncated input raises a Lua error (never reads out of
 * bounds). Does not free buf. */
int shoal_serial_unpack(lua_State *L, const void *buf, size_t sz);
/* Sets the size limit for every later pack (process-wide). */
void shoal_serial_set_limit(size_t limit);
size_t shoal_serial_get_limit(void);
/* Lua module: pack(...) -> lightuserdata, size; unpack(ptr, size) -> ...;
 * packstring(...) -> string; unpackstring(string) -> ...; free(ptr). */
int luaopen_shoal_serial(lua_State *L);

#endif
