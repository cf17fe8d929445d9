/*
 * alloc.c - allocation wrappers (abort on out-of-memory) and the jemalloc
 * settings.
 */
#include "alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef SHOAL_USE_JEMALLOC
/* jemalloc reads this at start-up (MALLOC_CONF still overrides it). A
 * background thread returns freed pages to the OS even while the node is
 * idle; without it memory freed by exited services stays resident until the
 * next allocation burst. */
SHOAL_API const char *malloc_conf = "background_thread:true,dirty_decay_ms:5000,muzzy_decay_ms:0";
#endif

static void out_of_memory(size_t sz) {
  fprintf(stderr, "shoal: out of memory allocating %zu bytes\n", sz);
  abort();
}

void *shoal_malloc(size_t sz) {
  void *p = malloc(sz);
  if (p == NULL && sz) out_of_memory(sz);
  return p;
}

void *shoal_realloc(void *p, size_t sz) {
  void *np = realloc(p, sz);
  if (np == NULL && sz) out_of_memory(sz);
  return np;
}

void shoal_free(void *p) { free(p); }

char *shoal_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = shoal_malloc(n);
  memcpy(d, s, n);
  return d;
}
