/*
 * test_error - error codes and the ERROR payload (include/shoal.h): every
 * SHOAL_E* fits the code byte, a payload carries its code and text both
 * ways, and a payload made by hand (empty, code byte 0, an unknown code)
 * never reads as a runtime error. Also the other constants shared with
 * Lua: SYSTEM words and the handle layout.
 */
#include <string.h>

#include "check.h"
#include "context.h"
#include "shoal.h"

struct code_entry {
  int code;
  const char *name;
  const char *text;
};

static const struct code_entry codes[] = {
#define CODE_ENTRY(name, value, text) {value, #name, text},
    SHOAL_ERRNO_LIST(CODE_ENTRY)
#undef CODE_ENTRY
};
#define NCODES ((int)(sizeof(codes) / sizeof(codes[0])))

static void test_codes_fit_the_code_byte_and_are_unique(void) {
  CHECK(NCODES >= 12);
  for (int i = 0; i < NCODES; i++) {
    CHECK(codes[i].code < 0 && codes[i].code >= -255);
    CHECK(strcmp(shoal_strerror(codes[i].code), codes[i].text) == 0);
    for (int j = 0; j < i; j++) CHECK(codes[j].code != codes[i].code);
  }
  CHECK(SHOAL_ERAISED == -12);
  CHECK(strcmp(shoal_strerror(0), "ok") == 0);
  CHECK(strcmp(shoal_strerror(-200), "unknown error") == 0);
}

static void test_payload_round_trip(void) {
  const char text[] = "service :0100000a exited";
  for (int i = 0; i < NCODES; i++) {
    size_t size = 0;
    unsigned char *p = shoal_context_error_payload(codes[i].code, text, sizeof(text) - 1, &size);
    CHECK(size == sizeof(text)); /* the code byte + the text, no NUL counted */
    CHECK(p[0] == (unsigned char)-codes[i].code);
    CHECK(p[size] == '\0');      /* but one is there */
    CHECK(shoal_error_code(p, size) == codes[i].code);
    size_t len = 0;
    const char *t = shoal_error_text(p, size, &len);
    CHECK(len == sizeof(text) - 1 && memcmp(t, text, len) == 0);
    shoal_free(p);
  }
  /* an empty text */
  size_t size = 0;
  unsigned char *p = shoal_context_error_payload(SHOAL_ETIMEOUT, "", 0, &size);
  size_t len = 99;
  CHECK(size == 1 && shoal_error_code(p, size) == SHOAL_ETIMEOUT);
  CHECK(shoal_error_text(p, size, &len) != NULL && len == 0);
  shoal_free(p);
}

static void test_payloads_made_by_hand(void) {
  size_t len = 99;
  /* empty: no code byte at all */
  CHECK(shoal_error_code(NULL, 0) == SHOAL_ERAISED);
  CHECK(shoal_error_code("", 0) == SHOAL_ERAISED);
  CHECK(strcmp(shoal_error_text(NULL, 0, &len), "") == 0 && len == 0);
  /* code byte 0 is no code: read as raised, never as NOSERVICE */
  const char zero[] = "\0no such service";
  CHECK(shoal_error_code(zero, sizeof(zero) - 1) == SHOAL_ERAISED);
  CHECK(shoal_error_text(zero, sizeof(zero) - 1, &len) == zero + 1 && len == 15);
  /* the text never decides the code */
  const char text_only[] = "no such service";
  CHECK(shoal_error_code(text_only, sizeof(text_only) - 1) == -(int)(unsigned char)'n');
  CHECK(shoal_error_code(text_only, sizeof(text_only) - 1) != SHOAL_ENOSERVICE);
  /* an unknown code passes through as a number */
  const char odd[] = "\xffodd";
  CHECK(shoal_error_code(odd, 4) == -255);
  CHECK(strcmp(shoal_strerror(-255), "unknown error") == 0);
  /* a code byte alone */
  CHECK(shoal_error_code("\x01", 1) == SHOAL_ENOSERVICE);
  CHECK(shoal_error_text("\x01", 1, &len) != NULL && len == 0);
}

static void test_system_words(void) {
  CHECK(shoal_system_is("EXIT", 4, SHOAL_SYSTEM_EXIT));
  CHECK(!shoal_system_is("EXITS", 5, SHOAL_SYSTEM_EXIT));
  CHECK(!shoal_system_is("EXI", 3, SHOAL_SYSTEM_EXIT));
  CHECK(!shoal_system_is(NULL, 0, SHOAL_SYSTEM_EXIT));
  CHECK(shoal_system_is("START\0args", 10, SHOAL_SYSTEM_START));
  CHECK(shoal_system_is("START", 5, SHOAL_SYSTEM_START));
  CHECK(!shoal_system_is("STARTED", 7, SHOAL_SYSTEM_START));
  CHECK(shoal_system_is("REOPEN", 6, SHOAL_SYSTEM_REOPEN));
  CHECK(!shoal_system_is("EXIT", 4, SHOAL_SYSTEM_REOPEN));
}

static void test_handle_layout(void) {
  CHECK(SHOAL_HANDLE_NODE_SHIFT == 24 && SHOAL_HANDLE_LOCAL_MASK == 0xffffffu && SHOAL_HANDLE_NODE_MAX == 255);
  CHECK(shoal_handle_make(3, 0) == 0x03000000u);
  CHECK(shoal_handle_make(255, 0x123456) == 0xff123456u);
  CHECK(shoal_handle_make(256 + 2, 0x1000005) == 0x02000005u); /* both parts cut to their width */
  CHECK(shoal_handle_node_of(0xfe000001u) == 0xfe);
  CHECK(shoal_handle_local_of(0xfe000001u) == 1);
}

int main(void) {
  test_codes_fit_the_code_byte_and_are_unique();
  test_payload_round_trip();
  test_payloads_made_by_hand();
  test_system_words();
  test_handle_layout();
  return 0;
}
