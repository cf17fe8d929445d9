/*
 * test_json - the JSON writer (cservice/json.c) the registry answers with:
 * escaping, the comma rule, growth, payload copies, the number grammar.
 */
#include <string.h>

#include "check.h"
#include "json.h"
#include "shoal.h"

static void expect_json(struct shoal_json *j, const char *want) {
  size_t len;
  const char *got = shoal_json_data(j, &len);
  if (len != strlen(want) || memcmp(got, want, len) != 0)
    fprintf(stderr, "json '%.*s', want '%s'\n", (int)len, got, want);
  CHECK(len == strlen(want) && memcmp(got, want, len) == 0);
}

static void test_json(void) {
  struct shoal_json *j = shoal_json_new();
  shoal_json_lit(j, "{");
  shoal_json_key(j, "s");
  shoal_json_str(j, "q\"b\\n\n\t\x01\x7f\xc3\xa9/");
  shoal_json_key(j, "a");
  shoal_json_lit(j, "[");
  shoal_json_sep(j);
  shoal_json_int(j, -5);
  shoal_json_sep(j);
  shoal_json_int(j, 4294967295LL);
  shoal_json_lit(j, "]");
  shoal_json_key(j, "o");
  shoal_json_lit(j, "{}");
  shoal_json_lit(j, "}");
  const char *want = "{\"s\":\"q\\\"b\\\\n\\n\\t\\u0001\\u007f\xc3\xa9/\",\"a\":[-5,4294967295],\"o\":{}}";
  expect_json(j, want);
  size_t len;
  char *copy = shoal_json_copy(j, &len); /* a payload of its own */
  CHECK(len == strlen(want) && memcmp(copy, want, len) == 0);
  shoal_free(copy);
  shoal_json_reset(j);
  expect_json(j, "");
  /* growth past the first block, escapes at the worst case */
  char big[3000];
  memset(big, 1, sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  shoal_json_str(j, big);
  shoal_json_data(j, &len);
  CHECK(len == (sizeof(big) - 1) * 6 + 2);
  shoal_json_free(j);

  const char *num[] = {"0", "-0", "1", "-12", "0.5", "1.25e3", "1E-7", "-1.5e+30", NULL};
  for (int i = 0; num[i]; i++) CHECK(shoal_json_is_number(num[i]) == 1);
  const char *not[] = {"", "-", "01", "+1", ".5", "1.", "1e", "1e+", "0x10", "inf", "nan", "1 ", "1,5", "--1", NULL};
  for (int i = 0; not[i]; i++) CHECK(shoal_json_is_number(not[i]) == 0);
}

int main(void) {
  test_json();
  printf("test_json: ok\n");
  return 0;
}
