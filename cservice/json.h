/*
 * json.h - a growable buffer for writing JSON text.
 *
 * The writer keeps no nesting state: the caller writes '{', '[', '}' and
 * ']' itself, and shoal_json_sep/shoal_json_key put the comma in front of
 * an element unless it is the first one of its object or array (the
 * buffer's last byte is then '{' or '['). Strings are escaped per RFC 8259;
 * they must be UTF-8 (the caller's input check makes sure of it).
 */
#ifndef SHOAL_JSON_H
#define SHOAL_JSON_H

#include <stddef.h>

struct shoal_json;

struct shoal_json *shoal_json_new(void);
void shoal_json_free(struct shoal_json *j);
/* Empties the buffer, keeping its memory. */
void shoal_json_reset(struct shoal_json *j);

/* Appends n bytes as they are. */
void shoal_json_raw(struct shoal_json *j, const char *s, size_t n);
/* Appends the NUL-terminated s as it is. */
void shoal_json_lit(struct shoal_json *j, const char *s);
/* Appends s quoted and escaped. */
void shoal_json_str(struct shoal_json *j, const char *s);
void shoal_json_int(struct shoal_json *j, long long v);
/* Appends a comma unless this is the first element of an object/array. */
void shoal_json_sep(struct shoal_json *j);
/* shoal_json_sep, then "key": */
void shoal_json_key(struct shoal_json *j, const char *key);

/* The text so far (not NUL-terminated) and its length. */
const char *shoal_json_data(const struct shoal_json *j, size_t *len);
/* Copies the text into a new shoal_malloc'd message payload (the caller
 * owns it, typically handing it to shoal_send); *len is its size. */
char *shoal_json_copy(const struct shoal_json *j, size_t *len);

/* 1 when s is a number by JSON's grammar (-?(0|[1-9]d*)(.d+)?([eE][+-]?d+)?),
 * so it may be written unquoted; 0 otherwise. */
int shoal_json_is_number(const char *s);

#endif
