/*
 * serial_int.h - what pack (serial.c) and unpack (serial_unpack.c) share:
 * the wire format.
 *
 * A message is a varint count of values followed by that many
 * values. Each value starts with a tag byte:
 *
 *   0x00-0x7f  integer 0..127 (the tag itself)
 *   0x80-0xbf  string of 0..63 bytes (length in the low 6 bits), then bytes
 *   0xc0-0xce  table with 0..14 array items (count in the low 4 bits)
 *   0xcf       table, array item count as a varint
 *              (a table tag is followed by a varint count of hash pairs,
 *              the array items 1..n, then the key/value pairs)
 *   0xd0 nil, 0xd1 false, 0xd2 true
 *   0xd3/d4/d5/d6  integer in 1/2/4/8 bytes, two's complement
 *   0xd7/d8    float as an IEEE single (only when exact) / double
 *   0xd9/da/db/dc  string, length in 1/2/4/8 bytes, then bytes
 *   0xdd-0xdf  reserved (rejected)
 *   0xe0-0xff  integer -32..-1 (the tag as a signed byte)
 *
 * Multi-byte numbers are little-endian; varints are unsigned LEB128.
 * The layout keeps the common cases (small integers, short keys, small
 * tables) at one tag byte, and the leading count lets unpack reject
 * trailing garbage and check the Lua stack once.
 */
#ifndef SHOAL_SERIAL_INT_H
#define SHOAL_SERIAL_INT_H

enum {
  SERIAL_TAG_FIXSTR = 0x80,   /* | length (0..63) */
  SERIAL_TAG_FIXTABLE = 0xc0, /* | array count (0..14) */
  SERIAL_TAG_TABLE = 0xcf,
  SERIAL_TAG_NIL = 0xd0,
  SERIAL_TAG_FALSE = 0xd1,
  SERIAL_TAG_TRUE = 0xd2,
  SERIAL_TAG_INT8 = 0xd3,
  SERIAL_TAG_INT16 = 0xd4,
  SERIAL_TAG_INT32 = 0xd5,
  SERIAL_TAG_INT64 = 0xd6,
  SERIAL_TAG_FLOAT32 = 0xd7,
  SERIAL_TAG_FLOAT64 = 0xd8,
  SERIAL_TAG_STR8 = 0xd9,
  SERIAL_TAG_STR16 = 0xda,
  SERIAL_TAG_STR32 = 0xdb,
  SERIAL_TAG_STR64 = 0xdc,
  SERIAL_TAG_NEGFIX = 0xe0, /* first tag of the -32..-1 range */
};

#define SERIAL_FIXSTR_MAX 63
#define SERIAL_FIXTABLE_MAX 14
#define SERIAL_FIXINT_MIN (-32)
#define SERIAL_FIXINT_MAX 127
/* Lua stack slots per nesting level: pack keeps a key and a value per level,
 * unpack a table, a key and a value. Checked once per call, not per level. */
#define SERIAL_STACK_PER_LEVEL 3

#endif
