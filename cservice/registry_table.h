/*
 * registry_table.h - the registry's components: a hash table by (type, id)
 * plus a list in order of first registration (so queries and snapshots
 * come out in a stable order), and what each component holds.
 *
 * Internal to cservice/registry*.c. Every string a component holds is its
 * own shoal_malloc'd copy; regtab_remove and regtab_free release them.
 */
#ifndef SHOAL_REGISTRY_TABLE_H
#define SHOAL_REGISTRY_TABLE_H

#include <stddef.h>
#include <stdint.h>

struct shoal_json;
struct shoal_kvline;

#define REGTAB_MAX_TAGS 16   /* tags of one component */
#define REGTAB_MAX_STATUS 32 /* status fields of one component */
#define REGTAB_MAX_STATUS_BYTES 2048 /* their keys and values together */

/* Ordered: a component only ever moves to a worse state, except back to
 * alive (from suspect) or to a new life (register). */
enum reg_state {
  REG_ALIVE = 0,
  REG_SUSPECT = 1,
  REG_DEAD = 2,
};

struct reg_field {
  char *key; /* status field name */
  char *val; /* its value as sent */
  int num;   /* val is a JSON number: written unquoted */
};

struct reg_comp {
  char *type, *id;               /* the key */
  uint32_t inc;                  /* incarnation: 1 for a new key, +1 per register */
  char *node;                    /* node name */
  char *addr, *eaddr;            /* internal / external address (eaddr "" when not given) */
  int port, eport;               /* internal / external port (eport 0 when not given) */
  char **tags;                   /* ntags tags, no duplicates */
  int ntags;
  struct reg_field *status;      /* nstatus fields, in the order first sent */
  int nstatus;
  uint32_t interval;             /* heartbeat interval, ms */
  uint64_t last_hb;              /* node ms of the register or the last heartbeat */
  enum reg_state state;          /* see enum reg_state */
  int probe_missed;              /* consecutive failed probes */
  int probe_slot;                /* index of its probe in flight, -1 when none */
  uint64_t next_probe;           /* node ms when the next probe is due */
  struct reg_comp *hnext;        /* hash chain */
  struct reg_comp *prev, *next;  /* the list, in order of first registration */
};

struct regtab;

struct regtab *regtab_new(void);
/* Frees the table and every component in it. */
void regtab_free(struct regtab *t);
struct reg_comp *regtab_find(const struct regtab *t, const char *type, const char *id);
/* Adds a component with copies of type and id, inc 0, alive, every other
 * field empty; the caller fills it in. The key must not exist yet. */
struct reg_comp *regtab_add(struct regtab *t, const char *type, const char *id);
/* Unlinks and frees c. */
void regtab_remove(struct regtab *t, struct reg_comp *c);
int regtab_count(const struct regtab *t);
/* Walks the list: first, then next until NULL. Take next before removing. */
struct reg_comp *regtab_first(const struct regtab *t);
struct reg_comp *regtab_next(const struct regtab *t, const struct reg_comp *c);

/* 1 when key is in keys (a NULL-terminated list), else 0. */
int regtab_key_listed(const char *const *keys, const char *key);

/* Replaces *field with a copy of s. */
void regcomp_set(char **field, const char *s);
/* Replaces the tags with the comma-separated csv (duplicates dropped).
 * Returns 0, or -1 with the reason in err when a tag is empty or there
 * are more than REGTAB_MAX_TAGS; c is unchanged then. */
int regcomp_set_tags(struct reg_comp *c, const char *csv, char *err, size_t errlen);
int regcomp_has_tag(const struct reg_comp *c, const char *tag);
/* Frees c's tags and status fields (c keeps none). */
void regcomp_free_lists(struct reg_comp *c);
/* Gives dst the tags and status of src (dst's own are freed; src keeps
 * none). Lets a request be checked on a scratch component first. */
void regcomp_move_lists(struct reg_comp *dst, struct reg_comp *src);
/* Merges every pair of kv whose key is not in skip (a NULL-terminated
 * list) into the status; *changed is set to 1 when a field was added or
 * got another value. Returns 0, or -1 with the reason in err when the
 * result would pass REGTAB_MAX_STATUS fields or REGTAB_MAX_STATUS_BYTES;
 * c is unchanged then. */
int regcomp_merge_status(struct reg_comp *c, const struct shoal_kvline *kv, const char *const *skip, int *changed,
                         char *err, size_t errlen);
/* Writes c's fields ("type":...,"status":{...}) without the enclosing
 * braces, so events can add theirs; age_ms counts from now. */
void regcomp_json(const struct reg_comp *c, uint64_t now, struct shoal_json *j);
const char *regcomp_state_name(enum reg_state s);

#endif
