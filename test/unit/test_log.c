/*
 * test_log - shoal_log_escape (core/log.c), the one place a log line is
 * made printable: control characters shown as \n \r \t \xHH, bytes that
 * are not UTF-8 as \xHH, the line cut at SHOAL_LOG_LINE_MAX with the mark.
 * Every message a service can send must come out as one printable line.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "shoal.h"

static char out[SHOAL_LOG_ESCAPED_MAX];

static void escaped(const char *text, size_t len, const char *want) {
  size_t n = shoal_log_escape(out, text, len);
  if (n != strlen(want) || strcmp(out, want) != 0) fprintf(stderr, "escaped to '%s', want '%s'\n", out, want);
  CHECK(n == strlen(want));
  CHECK(strcmp(out, want) == 0);
}

#define ESCAPED(text, want) escaped(text, sizeof(text) - 1, want)

/* The output is one line of printable ASCII or valid UTF-8 (the C1 range
 * excluded), within the bound. */
static void check_printable(const char *s, size_t n) {
  CHECK(n < SHOAL_LOG_ESCAPED_MAX);
  CHECK(strlen(s) == n);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    CHECK(c >= 0x20 && c != 0x7f);
    if (c == 0xc2) CHECK((unsigned char)s[i + 1] >= 0xa0);
  }
}

static void test_plain_and_controls(void) {
  ESCAPED("", "");
  ESCAPED("plain text: 100% ok {} [] \\ \"q\"", "plain text: 100% ok {} [] \\ \"q\"");
  ESCAPED("two\nlines", "two\\nlines");
  ESCAPED("a\r\nforged 2026-01-01 00:00:00.000 ERROR [:01000001] x", "a\\r\\nforged 2026-01-01 00:00:00.000 ERROR [:01000001] x");
  ESCAPED("tab\there", "tab\\there");
  ESCAPED("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m");
  ESCAPED("bell\a del\x7f nul\0end", "bell\\x07 del\\x7f nul\\x00end");
  ESCAPED("ends with a line end\r\n\n", "ends with a line end");
  ESCAPED("\n", "");
  ESCAPED("\ninside and at the start", "\\ninside and at the start");
}

static void test_utf8(void) {
  ESCAPED("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  ESCAPED("nbsp\xc2\xa0", "nbsp\xc2\xa0");
  ESCAPED("csi\xc2\x9b" "2J", "csi\\xc2\\x9b2J");                  /* a C1 control as UTF-8 */
  ESCAPED("raw\x9b" "2J", "raw\\x9b2J");                           /* a C1 control as a byte */
  ESCAPED("latin1 caf\xe9!", "latin1 caf\\xe9!");                   /* not UTF-8 */
  ESCAPED("overlong \xc0\xaf \xe0\x80\xaf", "overlong \\xc0\\xaf \\xe0\\x80\\xaf");
  ESCAPED("surrogate \xed\xa0\x80", "surrogate \\xed\\xa0\\x80");
  ESCAPED("too big \xf4\x90\x80\x80", "too big \\xf4\\x90\\x80\\x80");
  ESCAPED("cut \xe2\x82", "cut \\xe2\\x82");                         /* a sequence cut short */
  ESCAPED("\xff\xfe", "\\xff\\xfe");
}

static void test_cut(void) {
  size_t big = 3 * SHOAL_LOG_LINE_MAX;
  char *text = malloc(big);
  /* exactly at the limit: kept whole */
  memset(text, 'a', big);
  size_t n = shoal_log_escape(out, text, SHOAL_LOG_LINE_MAX);
  CHECK(n == SHOAL_LOG_LINE_MAX);
  CHECK(strstr(out, "[cut") == NULL);
  /* one byte over: cut, with the mark */
  n = shoal_log_escape(out, text, SHOAL_LOG_LINE_MAX + 1);
  CHECK(n == SHOAL_LOG_LINE_MAX + strlen(SHOAL_LOG_CUT_MARK));
  CHECK(strcmp(out + SHOAL_LOG_LINE_MAX, SHOAL_LOG_CUT_MARK) == 0);
  /* the mark names the limit */
  char limit[32];
  snprintf(limit, sizeof(limit), "over %d bytes", SHOAL_LOG_LINE_MAX);
  CHECK(strstr(SHOAL_LOG_CUT_MARK, limit) != NULL);
  /* escapes grow the text: a short text of control bytes is cut too,
   * between two escapes */
  memset(text, '\t', big);
  n = shoal_log_escape(out, text, SHOAL_LOG_LINE_MAX);
  CHECK(n == SHOAL_LOG_LINE_MAX + strlen(SHOAL_LOG_CUT_MARK));
  CHECK(memcmp(out + SHOAL_LOG_LINE_MAX - 2, "\\t" SHOAL_LOG_CUT_MARK, 2 + strlen(SHOAL_LOG_CUT_MARK)) == 0);
  memset(text, 1, big);
  n = shoal_log_escape(out, text, big);
  CHECK(n == SHOAL_LOG_LINE_MAX + strlen(SHOAL_LOG_CUT_MARK)); /* 8192 = 2048 escapes of 4 bytes */
  /* never inside a UTF-8 character: 3-byte characters after one 'a' */
  text[0] = 'a';
  for (size_t i = 1; i + 3 <= big; i += 3) memcpy(text + i, "\xe2\x82\xac", 3);
  n = shoal_log_escape(out, text, 1 + (big - 1) / 3 * 3);
  size_t kept = n - strlen(SHOAL_LOG_CUT_MARK);
  CHECK(kept <= SHOAL_LOG_LINE_MAX && (kept - 1) % 3 == 0);
  CHECK(strcmp(out + kept, SHOAL_LOG_CUT_MARK) == 0);
  check_printable(out, n);
  free(text);
}

/* Random bytes, biased to the interesting ones: always one bounded,
 * printable line. */
static void test_random(void) {
  static const unsigned char pick[] = {'\n', '\r', '\t', 0, 0x1b, 0x7f, 0x80, 0x9b, 0xc2, 0xc3, 0xe2, 0xed, 0xf0, 0xf4, 0xff, 'a', '\\'};
  unsigned seed = 20261121;
  char text[SHOAL_LOG_LINE_MAX + 600];
  for (int round = 0; round < 3000; round++) {
    size_t len = (size_t)(rand_r(&seed) % (round % 10 == 0 ? (int)sizeof(text) : 64));
    for (size_t i = 0; i < len; i++) {
      int r = rand_r(&seed);
      text[i] = (char)(r % 3 == 0 ? r >> 8 & 0xff : pick[(r >> 8) % sizeof(pick)]);
    }
    size_t n = shoal_log_escape(out, text, len);
    check_printable(out, n);
  }
}

int main(void) {
  test_plain_and_controls();
  test_utf8();
  test_cut();
  test_random();
  printf("test_log: ok\n");
  return 0;
}
