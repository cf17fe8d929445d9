/*
 * kvline.h - one line of `VERB key=value key=value ...`.
 *
 * The text protocol of the registry (and the form of C service arguments):
 * tokens separated by spaces or tabs, a trailing CR/LF ignored, every token
 * after the optional verb a key=value pair. Keys are [A-Za-z0-9_.-]+,
 * values are non-empty and contain no whitespace. The line must be UTF-8
 * without control characters, so every key and value can be written into
 * JSON and logs as it is.
 *
 * Parsing copies the line once; the result owns that copy and hands out
 * pointers into it, valid until shoal_kvline_free.
 */
#ifndef SHOAL_KVLINE_H
#define SHOAL_KVLINE_H

#include <stddef.h>

#define SHOAL_KVLINE_MAX_PAIRS 64 /* key=value pairs in one line */

enum shoal_kvline_flags {
  SHOAL_KVLINE_VERB = 1, /* the first token is a verb, not a pair */
};

struct shoal_kvline;

/* Parses the len bytes at text. Returns the parsed line (the caller frees
 * it), or NULL with one line saying why in err (errlen bytes, always
 * terminated): empty line (with SHOAL_KVLINE_VERB), control character or
 * bad UTF-8, a token that is not key=value, a bad key, an empty value, a
 * key given twice, more than SHOAL_KVLINE_MAX_PAIRS pairs. */
struct shoal_kvline *shoal_kvline_parse(const char *text, size_t len, int flags, char *err, size_t errlen);
void shoal_kvline_free(struct shoal_kvline *kv);

/* The verb ("" when parsed without SHOAL_KVLINE_VERB). */
const char *shoal_kvline_verb(const struct shoal_kvline *kv);
/* Number of pairs, and the i-th key and value (0 <= i < count). */
int shoal_kvline_count(const struct shoal_kvline *kv);
const char *shoal_kvline_key(const struct shoal_kvline *kv, int i);
const char *shoal_kvline_value(const struct shoal_kvline *kv, int i);
/* The value of key, or NULL when absent. */
const char *shoal_kvline_get(const struct shoal_kvline *kv, const char *key);

/* Parses a whole decimal integer in lo..hi into *out. Returns 0, or -1 when
 * s is not one (empty, a sign or other text around it, out of range). */
int shoal_kvline_int(const char *s, long long lo, long long hi, long long *out);

#endif
