/*
 * env.c - configuration key/values. A small array under a mutex: it is read
 * at service start, never on a message path.
 */
#include "env.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

struct entry {
  char *key;   /* owned */
  char *value; /* owned */
};

static struct {
  pthread_mutex_t lock;
  struct entry *items; /* n used of cap */
  int n;
  int cap;
  char **graveyard; /* replaced values, freed at exit */
  int ngrave;
} E = {.lock = PTHREAD_MUTEX_INITIALIZER};

void shoal_env_init(void) {}

void shoal_env_exit(void) {
  pthread_mutex_lock(&E.lock);
  for (int i = 0; i < E.n; i++) {
    shoal_free(E.items[i].key);
    shoal_free(E.items[i].value);
  }
  for (int i = 0; i < E.ngrave; i++) shoal_free(E.graveyard[i]);
  shoal_free(E.items);
  shoal_free(E.graveyard);
  E.items = NULL;
  E.graveyard = NULL;
  E.n = E.cap = E.ngrave = 0;
  pthread_mutex_unlock(&E.lock);
}

void shoal_env_set(const char *key, const char *value) {
  pthread_mutex_lock(&E.lock);
  for (int i = 0; i < E.n; i++) {
    if (strcmp(E.items[i].key, key) == 0) {
      E.graveyard = shoal_realloc(E.graveyard, sizeof(char *) * (size_t)(E.ngrave + 1));
      E.graveyard[E.ngrave++] = E.items[i].value;
      E.items[i].value = shoal_strdup(value);
      pthread_mutex_unlock(&E.lock);
      return;
    }
  }
  if (E.n == E.cap) {
    E.cap = E.cap ? E.cap * 2 : 32;
    E.items = shoal_realloc(E.items, sizeof(struct entry) * (size_t)E.cap);
  }
  E.items[E.n].key = shoal_strdup(key);
  E.items[E.n].value = shoal_strdup(value);
  E.n++;
  pthread_mutex_unlock(&E.lock);
}

const char *shoal_env_get(const char *key) {
  const char *v = NULL;
  pthread_mutex_lock(&E.lock);
  for (int i = 0; i < E.n; i++) {
    if (strcmp(E.items[i].key, key) == 0) {
      v = E.items[i].value;
      break;
    }
  }
  pthread_mutex_unlock(&E.lock);
  return v;
}

int64_t shoal_env_int(const char *key, int64_t def) {
  const char *v = shoal_env_get(key);
  if (v == NULL || *v == '\0') return def;
  char *end = NULL;
  long long n = strtoll(v, &end, 10);
  if (*end != '\0') return def;
  return (int64_t)n;
}


const char *shoal_path_next(const char *p, const char *name, char *out, size_t outlen) {
  while (p && *p) {
    const char *end = strchr(p, ';');
    size_t plen = end ? (size_t)(end - p) : strlen(p);
    const char *q = memchr(p, '?', plen);
    const char *next = end ? end + 1 : p + plen;
    if (q) {
      size_t pre = (size_t)(q - p);
      int n = snprintf(out, outlen, "%.*s%s%.*s", (int)pre, p, name, (int)(plen - pre - 1), q + 1);
      if (n >= 0 && (size_t)n < outlen) return next;
    }
    p = next;
  }
  return NULL;
}
