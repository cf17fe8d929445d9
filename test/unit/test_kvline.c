/*
 * test_kvline - the `VERB key=value ...` parser (cservice/kvline.c) that
 * reads the registry's requests and arguments: tokens, blanks, every
 * rejected form with its reason, UTF-8 checks, integers, random lines.
 */
#include <string.h>

#include "check.h"
#include "kvline.h"
#include "shoal.h"

static struct shoal_kvline *parse(const char *s, int flags, char *err) {
  return shoal_kvline_parse(s, strlen(s), flags, err, 160);
}

/* The line must be refused with a reason containing why. */
static void refused(const char *s, int flags, const char *why) {
  char err[160];
  struct shoal_kvline *kv = parse(s, flags, err);
  if (kv != NULL || strstr(err, why) == NULL) fprintf(stderr, "line '%s': got '%s', want '%s'\n", s, err, why);
  CHECK(kv == NULL);
  CHECK(strstr(err, why) != NULL);
}

static void test_tokens(void) {
  char err[160];
  struct shoal_kvline *kv = parse("  register\ttype=game  id=g1 tags=a,b x=\xc3\xa9=\r\n", SHOAL_KVLINE_VERB, err);
  CHECK(kv != NULL);
  CHECK(strcmp(shoal_kvline_verb(kv), "register") == 0);
  CHECK(shoal_kvline_count(kv) == 4);
  CHECK(strcmp(shoal_kvline_key(kv, 0), "type") == 0 && strcmp(shoal_kvline_value(kv, 0), "game") == 0);
  CHECK(strcmp(shoal_kvline_get(kv, "tags"), "a,b") == 0);
  CHECK(strcmp(shoal_kvline_get(kv, "x"), "\xc3\xa9=") == 0); /* the first '=' splits */
  CHECK(shoal_kvline_get(kv, "nope") == NULL);
  shoal_kvline_free(kv);

  kv = parse("query", SHOAL_KVLINE_VERB, err);
  CHECK(kv && shoal_kvline_count(kv) == 0);
  shoal_kvline_free(kv);

  kv = parse("a=1 b.c-d_e=2", 0, err); /* no verb: module arguments */
  CHECK(kv && shoal_kvline_count(kv) == 2 && strcmp(shoal_kvline_verb(kv), "") == 0);
  shoal_kvline_free(kv);
  kv = parse("", 0, err);
  CHECK(kv && shoal_kvline_count(kv) == 0);
  shoal_kvline_free(kv);

  /* A NUL inside the given length is refused, not a silent cut. */
  CHECK(shoal_kvline_parse("q a=1\0b=2", 9, SHOAL_KVLINE_VERB, err, sizeof(err)) == NULL);
  CHECK(strstr(err, "control character 0x00 at byte 5"));
}

static void test_refused(void) {
  refused("", SHOAL_KVLINE_VERB, "empty request");
  refused(" \t\r\n", SHOAL_KVLINE_VERB, "empty request");
  refused("q novalue", SHOAL_KVLINE_VERB, "'novalue' is not key=value");
  refused("q =v", SHOAL_KVLINE_VERB, "'=v' has no key");
  refused("q k=", SHOAL_KVLINE_VERB, "k= has an empty value");
  refused("q k{=1", SHOAL_KVLINE_VERB, "bad key 'k{'");
  refused("q a=1 a=2", SHOAL_KVLINE_VERB, "key a given twice");
  refused("q a=\x01", SHOAL_KVLINE_VERB, "control character 0x01");
  refused("q a=\x7f", SHOAL_KVLINE_VERB, "control character 0x7f");
  refused("q a=\xff", SHOAL_KVLINE_VERB, "bad UTF-8");
  refused("q a=\xc3", SHOAL_KVLINE_VERB, "bad UTF-8");             /* truncated */
  refused("q a=\xc0\xaf", SHOAL_KVLINE_VERB, "bad UTF-8");         /* overlong */
  refused("q a=\xed\xa0\x80", SHOAL_KVLINE_VERB, "bad UTF-8");     /* surrogate */
  refused("q a=\xf4\x90\x80\x80", SHOAL_KVLINE_VERB, "bad UTF-8"); /* past U+10FFFF */
  char line[1024] = "q";
  for (int i = 0; i <= SHOAL_KVLINE_MAX_PAIRS; i++)
    snprintf(line + strlen(line), sizeof(line) - strlen(line), " k%d=1", i);
  refused(line, SHOAL_KVLINE_VERB, "more than 64 key=value pairs");
  char err[8];
  CHECK(shoal_kvline_parse("q x", 3, SHOAL_KVLINE_VERB, err, sizeof(err)) == NULL);
  CHECK(strlen(err) == sizeof(err) - 1); /* a small buffer gets a cut, terminated reason */
}

static void test_int(void) {
  long long v = 0;
  CHECK(shoal_kvline_int("42", 0, 100, &v) == 0 && v == 42);
  CHECK(shoal_kvline_int("-7", -10, 10, &v) == 0 && v == -7);
  CHECK(shoal_kvline_int("0", 0, 0, &v) == 0 && v == 0);
  CHECK(shoal_kvline_int("4294967295", 1, 4294967295LL, &v) == 0 && v == 4294967295LL);
  const char *bad[] = {"", " 1", "+1", "1 ", "1x", "0x10", "-", "1e3", "101", "-11", "99999999999999999999", NULL};
  for (int i = 0; bad[i]; i++) CHECK(shoal_kvline_int(bad[i], -10, 100, &v) == -1);
  CHECK(shoal_kvline_int(NULL, 0, 1, &v) == -1);
}

/* Random lines over an alphabet of the characters that matter: parsing
 * never crashes (the sanitizer builds watch), and an accepted line obeys
 * the contract. */
static void test_random(void) {
  static const char alphabet[] = "ab=,= \t\r\n.-_0\x01\x7f\xc3\xa9\xff\xed\xa0\x80\xf0\x9f\x98\x80";
  unsigned seed = 12345;
  char line[96], err[160];
  for (int n = 0; n < 200000; n++) {
    size_t len = (seed = seed * 1103515245u + 12345u) >> 16 & 63;
    for (size_t i = 0; i < len; i++) {
      seed = seed * 1103515245u + 12345u;
      line[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
    }
    struct shoal_kvline *kv = shoal_kvline_parse(line, len, n & 1 ? SHOAL_KVLINE_VERB : 0, err, sizeof(err));
    if (kv == NULL) {
      CHECK(err[0] != '\0');
      continue;
    }
    for (int i = 0; i < shoal_kvline_count(kv); i++) {
      const char *k = shoal_kvline_key(kv, i), *v = shoal_kvline_value(kv, i);
      CHECK(k[0] != '\0' && v[0] != '\0' && strpbrk(v, " \t\r\n") == NULL);
      CHECK(shoal_kvline_get(kv, k) == v);
    }
    shoal_kvline_free(kv);
  }
}

int main(void) {
  test_tokens();
  test_refused();
  test_int();
  test_random();
  printf("test_kvline: ok\n");
  return 0;
}
