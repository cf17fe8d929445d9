/*
 * serial_check.h - helpers shared by the serializer's unit tests
 * (test_serial.c: fixed cases and timing; test_serial_random.c: random
 * round trips and fuzzing of unpack).
 */
#ifndef SHOAL_SERIAL_CHECK_H
#define SHOAL_SERIAL_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

/* Prints "test_serial: FAIL: ..." and exits 1. */
__attribute__((noreturn, format(printf, 1, 2))) void fail(const char *fmt, ...);
/* A Lua state with the standard libraries and the serializer as `serial`. */
lua_State *serial_check_state(void);
/* xorshift64* state: seed it to replay a run. */
extern uint64_t rng_state;
/* A lua_CFunction: packs its arguments, frees the buffer, returns the size
 * (to run pack under lua_pcall). */
int pack_thunk(lua_State *L);
uint64_t rnd(void);
unsigned rnd_below(unsigned n);
int deep_equal(lua_State *L, int a, int b);
int try_unpack(lua_State *L, const void *buf, size_t n, char *err, size_t errsz);
int try_unpack_copy(lua_State *L, const void *buf, size_t n, char *err, size_t errsz);
size_t roundtrip(lua_State *L, int first, const char *what);
void run_lua(lua_State *L, const char *what, const char *code);
void roundtrip_chunk(lua_State *L, const char *what, const char *code);
void expect_error(lua_State *L, const char *code, const char *const *words);
void expect_unpack_error(lua_State *L, const char *what, const void *buf, size_t n,
                                const char *word);
#define EXPECT_ERROR(L, code, ...) expect_error(L, code, (const char *const[]){__VA_ARGS__, NULL})

/* UNDER_TSAN: defined in a ThreadSanitizer build (gcc or clang), where the
 * serializer tests run fewer rounds (see test_serial_random.c). */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif

#endif
