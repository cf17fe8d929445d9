/*
 * handle.c - handle table and local names.
 */
#include "handle.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#define INITIAL_SLOTS 64

struct name_entry {
  char *name;      /* owned: ".local", or a cluster-global name without the dot */
  uint32_t handle; /* bound handle */
};

static struct {
  pthread_rwlock_t lock;
  uint32_t node_bits;         /* node id << 24 */
  uint32_t next_id;           /* next local id to try */
  int count;                  /* live handles */
  int cap;                    /* slot count, power of two */
  void **slot;                /* ctx per slot, indexed by id & (cap-1) */
  uint32_t *slot_handle;      /* handle held by each slot (0: free) */
  struct name_entry *names;   /* sorted by name */
  int nname;
  int name_cap;
} H;

void shoal_handle_init(uint32_t node) {
  pthread_rwlockattr_t attr;
  pthread_rwlockattr_init(&attr);
  pthread_rwlock_init(&H.lock, &attr);
  pthread_rwlockattr_destroy(&attr);
  H.node_bits = (node & 0xffu) << SHOAL_HANDLE_NODE_SHIFT;
  H.next_id = 1;
  H.count = 0;
  H.cap = INITIAL_SLOTS;
  H.slot = calloc((size_t)H.cap, sizeof(void *));
  H.slot_handle = calloc((size_t)H.cap, sizeof(uint32_t));
  if (!H.slot || !H.slot_handle) abort();
  H.names = NULL;
  H.nname = H.name_cap = 0;
}

void shoal_handle_exit(void) {
  for (int i = 0; i < H.nname; i++) shoal_free(H.names[i].name);
  free(H.names);
  free(H.slot);
  free(H.slot_handle);
  H.slot = NULL;
  H.slot_handle = NULL;
  H.names = NULL;
  H.nname = H.name_cap = H.count = H.cap = 0;
  pthread_rwlock_destroy(&H.lock);
}

uint32_t shoal_handle_node(void) { return H.node_bits >> SHOAL_HANDLE_NODE_SHIFT; }

int shoal_handle_is_remote(uint32_t handle) {
  uint32_t node_bits = handle & ~SHOAL_HANDLE_LOCAL_MASK;
  return node_bits != 0 && node_bits != H.node_bits;
}

/* Doubles the table; ids keep their handles, slots are re-indexed. */
static void grow(void) {
  int ncap = H.cap * 2;
  void **slot = calloc((size_t)ncap, sizeof(void *));
  uint32_t *sh = calloc((size_t)ncap, sizeof(uint32_t));
  if (!slot || !sh) abort();
  for (int i = 0; i < H.cap; i++) {
    if (H.slot_handle[i]) {
      uint32_t idx = H.slot_handle[i] & (uint32_t)(ncap - 1);
      slot[idx] = H.slot[i];
      sh[idx] = H.slot_handle[i];
    }
  }
  free(H.slot);
  free(H.slot_handle);
  H.slot = slot;
  H.slot_handle = sh;
  H.cap = ncap;
}

uint32_t shoal_handle_register(void *ctx) {
  pthread_rwlock_wrlock(&H.lock);
  for (;;) {
    uint32_t mask = (uint32_t)H.cap - 1;
    for (int i = 0; i < H.cap; i++) {
      uint32_t id = (H.next_id + (uint32_t)i) & SHOAL_HANDLE_LOCAL_MASK;
      if (id == 0) continue;
      if (H.slot_handle[id & mask] == 0) {
        uint32_t handle = H.node_bits | id;
        H.slot[id & mask] = ctx;
        H.slot_handle[id & mask] = handle;
        H.next_id = (id + 1) & SHOAL_HANDLE_LOCAL_MASK;
        H.count++;
        pthread_rwlock_unlock(&H.lock);
        return handle;
      }
    }
    if ((uint32_t)H.cap * 2 > SHOAL_HANDLE_LOCAL_MASK + 1u) {
      pthread_rwlock_unlock(&H.lock);
      return 0;
    }
    grow();
  }
}

static void remove_names_locked(uint32_t handle) {
  int j = 0;
  for (int i = 0; i < H.nname; i++) {
    if (H.names[i].handle == handle) {
      shoal_free(H.names[i].name);
    } else {
      H.names[j++] = H.names[i];
    }
  }
  H.nname = j;
}

void *shoal_handle_remove(uint32_t handle) {
  void *ctx = NULL;
  pthread_rwlock_wrlock(&H.lock);
  uint32_t idx = handle & (uint32_t)(H.cap - 1);
  if (handle != 0 && H.slot_handle[idx] == handle) {
    ctx = H.slot[idx];
    H.slot[idx] = NULL;
    H.slot_handle[idx] = 0;
    H.count--;
    remove_names_locked(handle);
  }
  pthread_rwlock_unlock(&H.lock);
  return ctx;
}

void *shoal_handle_lock_find(uint32_t handle) {
  pthread_rwlock_rdlock(&H.lock);
  uint32_t idx = handle & (uint32_t)(H.cap - 1);
  if (handle != 0 && H.slot_handle[idx] == handle) return H.slot[idx];
  return NULL;
}

void shoal_handle_unlock(void) { pthread_rwlock_unlock(&H.lock); }

/* Binary search; returns the index of name or -(insert position)-1. */
static int search_name(const char *name) {
  int lo = 0, hi = H.nname - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    int c = strcmp(H.names[mid].name, name);
    if (c == 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -lo - 1;
}

uint32_t shoal_handle_findname(const char *name) {
  if (name == NULL) return 0;
  if (name[0] == ':') {
    char *end = NULL;
    unsigned long h = strtoul(name + 1, &end, 16);
    if (end == name + 1 || *end != '\0' || h > 0xffffffffUL) return 0;
    return (uint32_t)h;
  }
  uint32_t h = 0;
  pthread_rwlock_rdlock(&H.lock);
  int i = search_name(name);
  if (i >= 0) h = H.names[i].handle;
  pthread_rwlock_unlock(&H.lock);
  return h;
}

/* A global name: letters, digits, '_', '-' and '.', not starting with '.'. */
static int is_global_name(const char *name) {
  for (const char *p = name; *p; p++)
    if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '-' || (*p == '.' && p != name))) return 0;
  return 1;
}

int shoal_handle_bindname(uint32_t handle, const char *name) {
  size_t len = name ? strlen(name) : 0;
  int global = len > 0 && name[0] != '.';
  if ((!global && len < 2) || len >= SHOAL_NAME_MAX || (global && !is_global_name(name))) return SHOAL_EINVAL;
  int remote = shoal_handle_is_remote(handle);
  if (remote && !global) return SHOAL_EINVAL; /* local names are for local services */
  pthread_rwlock_wrlock(&H.lock);
  uint32_t idx = handle & (uint32_t)(H.cap - 1);
  if (!remote && (handle == 0 || H.slot_handle[idx] != handle)) {
    pthread_rwlock_unlock(&H.lock);
    return SHOAL_ENOSERVICE;
  }
  int i = search_name(name);
  if (i >= 0) {
    /* A global name bound to another node moves when it is announced again
     * (that node restarted) or taken by a local service. A name bound here
     * stays: its service is alive (names leave with their service), so
     * neither a second local service nor a peer's announcement may take it
     * (a peer could otherwise steal "db" and receive its calls). */
    int move = global && shoal_handle_is_remote(H.names[i].handle);
    if (move) H.names[i].handle = handle;
    pthread_rwlock_unlock(&H.lock);
    return move ? 0 : SHOAL_ENAMEEXIST;
  }
  int pos = -i - 1;
  if (H.nname == H.name_cap) {
    H.name_cap = H.name_cap ? H.name_cap * 2 : 16;
    H.names = realloc(H.names, sizeof(struct name_entry) * (size_t)H.name_cap);
    if (!H.names) abort();
  }
  memmove(H.names + pos + 1, H.names + pos, sizeof(struct name_entry) * (size_t)(H.nname - pos));
  H.names[pos].name = shoal_strdup(name);
  H.names[pos].handle = handle;
  H.nname++;
  pthread_rwlock_unlock(&H.lock);
  return 0;
}

int shoal_handle_names(uint32_t handle, const char **out, int max) {
  int n = 0;
  pthread_rwlock_rdlock(&H.lock);
  for (int i = 0; i < H.nname && n < max; i++)
    if (H.names[i].handle == handle) out[n++] = H.names[i].name;
  pthread_rwlock_unlock(&H.lock);
  return n;
}

int shoal_handle_count(void) {
  pthread_rwlock_rdlock(&H.lock);
  int n = H.count;
  pthread_rwlock_unlock(&H.lock);
  return n;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

int shoal_handle_list(uint32_t *out, int max) {
  int n = 0;
  pthread_rwlock_rdlock(&H.lock);
  for (int i = 0; i < H.cap && n < max; i++)
    if (H.slot_handle[i]) out[n++] = H.slot_handle[i];
  pthread_rwlock_unlock(&H.lock);
  qsort(out, (size_t)n, sizeof(uint32_t), cmp_u32);
  return n;
}
