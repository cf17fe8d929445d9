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
/* Lua memory one message may take to decode in a state without memlimit. */
#define SHOAL_SERIAL_DEFAULT_UNPACK_BUDGET (256u * 1024u * 1024u)

/* Packs the values at stack indexes [from, lua_gettop(L)] (nothing when
 * from > top). Returns a malloc'ed buffer and sets *sz. On unsupported
 * values, cycles, nesting over the max depth or a result over the limit it
 * raises a Lua error with a clear message and leaks nothing. */
void *shoal_serial_pack(lua_State *L, int from, size_t *sz);
/* Unpacks a buffer, pushing its values; returns how many were pushed.
 * Malformed or truncated input raises a Lua error (never reads out of
 * bounds). Does not free buf.
 * Decoding is bounded in memory as well as in bytes: table counts are
 * trusted only as far as the bytes left can hold their items, so all the
 * slots a message presizes add up to at most its size; and the Lua memory
 * it allocates may not take the state past its memlimit (when its host
 * registered shoal_serial_set_memlimit_fn) or, without one, past the unpack
 * budget. Either raises "unserialize: the message needs more ..." before
 * the allocation, so a 64 MB message cannot cost a service 1 GB. */
int shoal_serial_unpack(lua_State *L, const void *buf, size_t sz);
/* Sets the size limit for every later pack (process-wide). */
void shoal_serial_set_limit(size_t limit);
size_t shoal_serial_get_limit(void);
/* Sets how much Lua memory one unpack may allocate in a state without a
 * memlimit (process-wide; default SHOAL_SERIAL_DEFAULT_UNPACK_BUDGET). */
void shoal_serial_set_unpack_budget(size_t budget);
size_t shoal_serial_get_unpack_budget(void);
/* The memory limit of a state whose allocator is alloc, from the
 * allocator's ud (0: no limit). */
typedef size_t (*shoal_serial_memlimit_fn)(void *ud);
/* Registers the host's allocator (snlua's): unpack in its states is bounded
 * by fn(ud) instead of the budget. Process-wide; safe to call again. */
void shoal_serial_set_memlimit_fn(lua_Alloc alloc, shoal_serial_memlimit_fn fn);
/* Lua module: pack(...) -> lightuserdata, size; unpack(ptr, size) -> ...;
 * packstring(...) -> string; unpackstring(string) -> ...; free(ptr). */
int luaopen_shoal_serial(lua_State *L);

#endif
