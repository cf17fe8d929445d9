/*
 * harbor_pending.c - open addressing with linear probing and backward-shift
 * deletion (no tombstones, so a busy link does not degrade the table).
 */
#include "harbor_pending.h"

#include <string.h>

#include "shoal.h"

struct entry {
  uint64_t key; /* caller << 32 | session; 0 = empty (session is never 0) */
  uint64_t added_ms;
};

struct pending_set {
  struct entry *slot;
  size_t cap; /* power of two */
  size_t count;
};

static uint64_t make_key(uint32_t caller, int session) { return (uint64_t)caller << 32 | (uint32_t)session; }

static size_t hash(uint64_t key, size_t cap) {
  key ^= key >> 33;
  key *= 0xff51afd7ed558ccdULL;
  key ^= key >> 33;
  return (size_t)key & (cap - 1);
}

struct pending_set *pending_new(void) {
  struct pending_set *p = shoal_malloc(sizeof(*p));
  p->cap = 64;
  p->count = 0;
  p->slot = shoal_malloc(sizeof(struct entry) * p->cap);
  memset(p->slot, 0, sizeof(struct entry) * p->cap);
  return p;
}

void pending_free(struct pending_set *p) {
  if (p == NULL) return;
  shoal_free(p->slot);
  shoal_free(p);
}

static void insert(struct pending_set *p, uint64_t key, uint64_t added) {
  size_t i = hash(key, p->cap);
  while (p->slot[i].key && p->slot[i].key != key) i = (i + 1) & (p->cap - 1);
  if (p->slot[i].key == 0) p->count++;
  p->slot[i].key = key;
  p->slot[i].added_ms = added;
}

static void grow(struct pending_set *p) {
  struct entry *old = p->slot;
  size_t oldcap = p->cap;
  p->cap *= 2;
  p->count = 0;
  p->slot = shoal_malloc(sizeof(struct entry) * p->cap);
  memset(p->slot, 0, sizeof(struct entry) * p->cap);
  for (size_t i = 0; i < oldcap; i++)
    if (old[i].key) insert(p, old[i].key, old[i].added_ms);
  shoal_free(old);
}

void pending_add(struct pending_set *p, uint32_t caller, int session, uint64_t now_ms) {
  if ((p->count + 1) * 10 > p->cap * 7) grow(p);
  insert(p, make_key(caller, session), now_ms);
}

/* Empties slot i and moves later entries of the same run back into it. */
static void delete_at(struct pending_set *p, size_t i) {
  size_t mask = p->cap - 1;
  size_t j = i;
  for (;;) {
    j = (j + 1) & mask;
    if (p->slot[j].key == 0) break;
    size_t home = hash(p->slot[j].key, p->cap);
    /* j's entry may move to i only if i lies cyclically between home and j */
    if (((j - home) & mask) >= ((j - i) & mask)) {
      p->slot[i] = p->slot[j];
      i = j;
    }
  }
  p->slot[i].key = 0;
  p->count--;
}

int pending_remove(struct pending_set *p, uint32_t caller, int session) {
  uint64_t key = make_key(caller, session);
  size_t i = hash(key, p->cap);
  while (p->slot[i].key) {
    if (p->slot[i].key == key) {
      delete_at(p, i);
      return 1;
    }
    i = (i + 1) & (p->cap - 1);
  }
  return 0;
}

size_t pending_count(const struct pending_set *p) { return p->count; }

void pending_drain(struct pending_set *p, uint64_t before_ms,
                   void (*fn)(void *ud, uint32_t caller, int session), void *ud) {
  if (p->count == 0) return;
  if (before_ms == UINT64_MAX) {
    for (size_t i = 0; i < p->cap; i++)
      if (p->slot[i].key && fn) fn(ud, (uint32_t)(p->slot[i].key >> 32), (int)(uint32_t)p->slot[i].key);
    memset(p->slot, 0, sizeof(struct entry) * p->cap);
    p->count = 0;
    return;
  }
  /* Deleting shifts entries backwards, so re-check the same slot. */
  for (size_t i = 0; i < p->cap;) {
    if (p->slot[i].key && p->slot[i].added_ms < before_ms) {
      if (fn) fn(ud, (uint32_t)(p->slot[i].key >> 32), (int)(uint32_t)p->slot[i].key);
      delete_at(p, i);
    } else {
      i++;
    }
  }
}
