/*
 * registry_table.c - the registry's components (see registry_table.h).
 */
#include "registry_table.h"

#include <stdio.h>
#include <string.h>

#include "json.h"
#include "kvline.h"
#include "shoal.h"

struct regtab {
  struct reg_comp **buckets; /* hash chains by (type, id) */
  uint32_t mask;             /* buckets - 1 (a power of two minus one) */
  int count;                 /* components */
  struct reg_comp list;      /* list sentinel: list.next is the oldest */
};

/* FNV-1a over type, a NUL, then id: "a"/"bc" and "ab"/"c" differ. */
static uint32_t key_hash(const char *type, const char *id) {
  uint32_t h = 2166136261u;
  for (const unsigned char *p = (const unsigned char *)type; *p; p++) h = (h ^ *p) * 16777619u;
  h *= 16777619u;
  for (const unsigned char *p = (const unsigned char *)id; *p; p++) h = (h ^ *p) * 16777619u;
  return h;
}

struct regtab *regtab_new(void) {
  struct regtab *t = shoal_malloc(sizeof(*t));
  t->mask = 63;
  t->buckets = shoal_malloc(sizeof(*t->buckets) * (t->mask + 1));
  memset(t->buckets, 0, sizeof(*t->buckets) * (t->mask + 1));
  t->count = 0;
  t->list.prev = t->list.next = &t->list;
  return t;
}

static void free_comp(struct reg_comp *c) {
  shoal_free(c->type);
  shoal_free(c->id);
  shoal_free(c->node);
  shoal_free(c->addr);
  shoal_free(c->eaddr);
  regcomp_free_lists(c);
  shoal_free(c);
}

void regtab_free(struct regtab *t) {
  if (t == NULL) return;
  while (t->list.next != &t->list) regtab_remove(t, t->list.next);
  shoal_free(t->buckets);
  shoal_free(t);
}

struct reg_comp *regtab_find(const struct regtab *t, const char *type, const char *id) {
  struct reg_comp *c = t->buckets[key_hash(type, id) & t->mask];
  while (c && (strcmp(c->type, type) != 0 || strcmp(c->id, id) != 0)) c = c->hnext;
  return c;
}

/* Doubles the buckets once there are more components than buckets, so
 * chains stay short. */
static void grow(struct regtab *t) {
  uint32_t n = (t->mask + 1) * 2;
  struct reg_comp **b = shoal_malloc(sizeof(*b) * n);
  memset(b, 0, sizeof(*b) * n);
  for (struct reg_comp *c = t->list.next; c != &t->list; c = c->next) {
    uint32_t h = key_hash(c->type, c->id) & (n - 1);
    c->hnext = b[h];
    b[h] = c;
  }
  shoal_free(t->buckets);
  t->buckets = b;
  t->mask = n - 1;
}

struct reg_comp *regtab_add(struct regtab *t, const char *type, const char *id) {
  struct reg_comp *c = shoal_malloc(sizeof(*c));
  memset(c, 0, sizeof(*c));
  c->type = shoal_strdup(type);
  c->id = shoal_strdup(id);
  c->node = shoal_strdup("");
  c->addr = shoal_strdup("");
  c->eaddr = shoal_strdup("");
  c->state = REG_ALIVE;
  c->probe_slot = -1;
  uint32_t h = key_hash(type, id) & t->mask;
  c->hnext = t->buckets[h];
  t->buckets[h] = c;
  c->prev = t->list.prev;
  c->next = &t->list;
  t->list.prev->next = c;
  t->list.prev = c;
  if ((uint32_t)++t->count > t->mask) grow(t);
  return c;
}

void regtab_remove(struct regtab *t, struct reg_comp *c) {
  struct reg_comp **p = &t->buckets[key_hash(c->type, c->id) & t->mask];
  while (*p != c) p = &(*p)->hnext;
  *p = c->hnext;
  c->prev->next = c->next;
  c->next->prev = c->prev;
  t->count--;
  free_comp(c);
}

int regtab_count(const struct regtab *t) { return t->count; }

struct reg_comp *regtab_first(const struct regtab *t) {
  return t->list.next == &t->list ? NULL : t->list.next;
}

struct reg_comp *regtab_next(const struct regtab *t, const struct reg_comp *c) {
  return c->next == &t->list ? NULL : c->next;
}

void regcomp_set(char **field, const char *s) {
  shoal_free(*field);
  *field = shoal_strdup(s);
}

int regcomp_set_tags(struct reg_comp *c, const char *csv, char *err, size_t errlen) {
  char *tags[REGTAB_MAX_TAGS];
  int n = 0;
  const char *p = csv;
  for (;;) {
    size_t len = strcspn(p, ",");
    if (len == 0) {
      snprintf(err, errlen, "tags=%.64s has an empty tag", csv);
      goto fail;
    }
    int dup = 0;
    for (int i = 0; i < n && !dup; i++) dup = strlen(tags[i]) == len && memcmp(tags[i], p, len) == 0;
    if (!dup) {
      if (n == REGTAB_MAX_TAGS) {
        snprintf(err, errlen, "more than %d tags", REGTAB_MAX_TAGS);
        goto fail;
      }
      tags[n] = shoal_malloc(len + 1);
      memcpy(tags[n], p, len);
      tags[n][len] = '\0';
      n++;
    }
    if (p[len] == '\0') break;
    p += len + 1;
  }
  for (int i = 0; i < c->ntags; i++) shoal_free(c->tags[i]);
  shoal_free(c->tags);
  c->tags = shoal_malloc(sizeof(*c->tags) * (size_t)n);
  memcpy(c->tags, tags, sizeof(*c->tags) * (size_t)n);
  c->ntags = n;
  return 0;
fail:
  while (n > 0) shoal_free(tags[--n]);
  return -1;
}

int regcomp_has_tag(const struct reg_comp *c, const char *tag) {
  for (int i = 0; i < c->ntags; i++)
    if (strcmp(c->tags[i], tag) == 0) return 1;
  return 0;
}

void regcomp_free_lists(struct reg_comp *c) {
  for (int i = 0; i < c->ntags; i++) shoal_free(c->tags[i]);
  shoal_free(c->tags);
  c->tags = NULL;
  c->ntags = 0;
  for (int i = 0; i < c->nstatus; i++) {
    shoal_free(c->status[i].key);
    shoal_free(c->status[i].val);
  }
  shoal_free(c->status);
  c->status = NULL;
  c->nstatus = 0;
}

void regcomp_move_lists(struct reg_comp *dst, struct reg_comp *src) {
  regcomp_free_lists(dst);
  dst->tags = src->tags;
  dst->ntags = src->ntags;
  dst->status = src->status;
  dst->nstatus = src->nstatus;
  src->tags = NULL;
  src->ntags = 0;
  src->status = NULL;
  src->nstatus = 0;
}

static struct reg_field *find_field(const struct reg_comp *c, const char *key) {
  for (int i = 0; i < c->nstatus; i++)
    if (strcmp(c->status[i].key, key) == 0) return &c->status[i];
  return NULL;
}

int regtab_key_listed(const char *const *keys, const char *key) {
  for (; *keys; keys++)
    if (strcmp(*keys, key) == 0) return 1;
  return 0;
}

int regcomp_merge_status(struct reg_comp *c, const struct shoal_kvline *kv, const char *const *skip, int *changed,
                         char *err, size_t errlen) {
  int n = shoal_kvline_count(kv);
  int added = 0;
  size_t bytes = 0;
  for (int i = 0; i < c->nstatus; i++) bytes += strlen(c->status[i].key) + strlen(c->status[i].val);
  for (int i = 0; i < n; i++) {
    const char *key = shoal_kvline_key(kv, i), *val = shoal_kvline_value(kv, i);
    if (regtab_key_listed(skip, key)) continue;
    const struct reg_field *f = find_field(c, key);
    if (f) {
      bytes = bytes - strlen(f->val) + strlen(val);
    } else {
      added++;
      bytes += strlen(key) + strlen(val);
    }
  }
  if (c->nstatus + added > REGTAB_MAX_STATUS) {
    snprintf(err, errlen, "more than %d status fields", REGTAB_MAX_STATUS);
    return -1;
  }
  if (bytes > REGTAB_MAX_STATUS_BYTES) {
    snprintf(err, errlen, "status fields of %zu bytes (limit %d)", bytes, REGTAB_MAX_STATUS_BYTES);
    return -1;
  }
  if (added > 0) c->status = shoal_realloc(c->status, sizeof(*c->status) * (size_t)(c->nstatus + added));
  for (int i = 0; i < n; i++) {
    const char *key = shoal_kvline_key(kv, i), *val = shoal_kvline_value(kv, i);
    if (regtab_key_listed(skip, key)) continue;
    struct reg_field *f = find_field(c, key);
    if (f && strcmp(f->val, val) == 0) continue;
    if (f == NULL) {
      f = &c->status[c->nstatus++];
      f->key = shoal_strdup(key);
      f->val = NULL;
    }
    regcomp_set(&f->val, val);
    f->num = shoal_json_is_number(val);
    *changed = 1;
  }
  return 0;
}

const char *regcomp_state_name(enum reg_state s) {
  static const char *names[] = {"alive", "suspect", "dead"};
  return names[s];
}

void regcomp_json(const struct reg_comp *c, uint64_t now, struct shoal_json *j) {
  shoal_json_key(j, "type");
  shoal_json_str(j, c->type);
  shoal_json_key(j, "id");
  shoal_json_str(j, c->id);
  shoal_json_key(j, "inc");
  shoal_json_int(j, c->inc);
  shoal_json_key(j, "node");
  shoal_json_str(j, c->node);
  shoal_json_key(j, "addr");
  shoal_json_str(j, c->addr);
  shoal_json_key(j, "port");
  shoal_json_int(j, c->port);
  shoal_json_key(j, "eaddr");
  shoal_json_str(j, c->eaddr);
  shoal_json_key(j, "eport");
  shoal_json_int(j, c->eport);
  shoal_json_key(j, "tags");
  shoal_json_lit(j, "[");
  for (int i = 0; i < c->ntags; i++) {
    shoal_json_sep(j);
    shoal_json_str(j, c->tags[i]);
  }
  shoal_json_lit(j, "]");
  shoal_json_key(j, "state");
  shoal_json_str(j, regcomp_state_name(c->state));
  shoal_json_key(j, "age_ms");
  shoal_json_int(j, now > c->last_hb ? (long long)(now - c->last_hb) : 0);
  shoal_json_key(j, "status");
  shoal_json_lit(j, "{");
  for (int i = 0; i < c->nstatus; i++) {
    shoal_json_key(j, c->status[i].key);
    if (c->status[i].num) shoal_json_lit(j, c->status[i].val);
    else shoal_json_str(j, c->status[i].val);
  }
  shoal_json_lit(j, "}");
}
