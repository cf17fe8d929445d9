/*
 * dbmgr_int.h - what the parts of the dbmgr service share: its commands,
 * a request, its settings and the backend interface.
 *
 *   dbmgr.c         the service: decodes and checks a request on the worker
 *                   that delivers it, queues it, answers at once when it is
 *                   refused (bad input, queue full, exiting)
 *   dbmgr_queue.c   the database thread: runs requests in order, batches
 *                   writes into transactions, answers after the commit
 *   dbmgr_sqlite.c  the SQLite backend (the embedded default)
 *   dbmgr_pg.c      the PostgreSQL backend (libpq)
 *   dbmgr_wire.c    the serializer format without a Lua state
 */
#ifndef SHOAL_DBMGR_INT_H
#define SHOAL_DBMGR_INT_H

#include <stddef.h>
#include <stdint.h>

#include "dbmgr_wire.h"

/* The commands: X(ID, name, write, args). args, one letter per argument:
 *   n  a name (entity type, column): 1..DBMGR_MAX_NAME of [A-Za-z0-9_]
 *   a  an account name: 1..DBMGR_MAX_ACCOUNT bytes, no NUL
 *   b  an entity value (a string, up to db_max_value_kb)
 *   s  a string of up to DBMGR_MAX_SHORT bytes   S  the same or nil
 *   i  an integer
 *   v  an integer, float or string (an indexed value)   V  the same or nil
 *   *  then pairs (n, V): indexed columns and their values, to the end
 * A write runs inside the current batch's transaction and is answered
 * after its commit; a read runs when its turn comes and is answered then. */
#define DBMGR_COMMAND_LIST(X)                                     \
  X(ACCOUNT_CREATE, "account_create", 1, "aS")                    \
  X(ACCOUNT_GET, "account_get", 0, "a")                           \
  X(ACCOUNT_SET_PASSWORD, "account_set_password", 1, "is")        \
  X(ENTITY_LOAD, "entity_load", 0, "ni")                          \
  X(ENTITY_SAVE, "entity_save", 1, "nib*")                        \
  X(ENTITY_DELETE, "entity_delete", 1, "ni")                      \
  X(INDEX_DECLARE, "index_declare", 1, "nn")                      \
  X(INDEX_LIST, "index_list", 0, "n")                             \
  X(ENTITY_QUERY, "entity_query", 0, "nnvVi")                     \
  X(DIR_GET, "dir_get", 0, "i")                                   \
  X(CAS_LOGIN, "cas_login", 1, "iis")                             \
  X(DIR_SET_STATE, "dir_set_state", 1, "iis")                     \
  /* a save fenced by the directory: type, id, value, account, epoch, pairs (docs/dbmgr.md) */ \
  X(ENTITY_SAVE_FENCED, "entity_save_fenced", 1, "nibii*")         \
  /* the failover service: every session a dead baseapp held goes offline (its epoch kept) */ \
  X(DIR_RELEASE, "dir_release", 1, "s")                            \
  X(STALL, "stall", 0, "i")               /* test hook (db_test_hooks): the thread sleeps ms */ \
  X(FAIL_COMMITS, "fail_commits", 0, "i") /* test hook: the next n commits fail as if the database were away */ \
  X(LOSE_COMMITS, "lose_commits", 0, "i") /* test hook: the next n commits land, their answer lost (postgres) */

enum dbmgr_op {
#define DBMGR_OP_ENUM(id, name, write, args) DBMGR_OP_##id,
  DBMGR_COMMAND_LIST(DBMGR_OP_ENUM)
#undef DBMGR_OP_ENUM
  DBMGR_OP_COUNT
};

/* Limits on what a request may carry (beyond db_max_value_kb). */
#define DBMGR_MAX_NAME 64      /* an entity type or a column name */
#define DBMGR_MAX_ACCOUNT 128  /* an account name */
#define DBMGR_MAX_SHORT 1024   /* a password hash, a baseapp, a state */
#define DBMGR_MAX_QUERY 10000  /* rows one query may return */
#define DBMGR_MAX_STALL 60000  /* ms the stall hook may sleep */

/* One request, from the service callback to the database thread. */
struct dbmgr_req {
  struct dbmgr_req *next; /* the queue's link */
  enum dbmgr_op op;       /* what to do */
  int write;              /* runs in a batch, answered after the commit */
  uint32_t source;        /* who asked */
  int session;            /* its session (0: no answer wanted) */
  uint64_t arrival;       /* shoal_now() when it was queued */
  void *msg;              /* the message, kept: string arguments point into it */
  void *reply;            /* the answer once it ran (shoal_malloc'ed), sent after the commit */
  size_t reply_sz;        /* its size */
  int reply_code;         /* 0: a RESPONSE; else the SHOAL_E* of an ERROR whose text is reply */
  int nargs;              /* arguments, the command name not counted */
  struct dbmgr_val arg[]; /* the arguments */
};

/* Settings: the config's db_* keys, overridden by the launch arguments. */
struct dbmgr_config {
  char backend[16];        /* "sqlite" or "postgres" */
  char path[1024];         /* the SQLite database file */
  char conninfo[1024];     /* the PostgreSQL server (a libpq conninfo string) */
  int sync_full;           /* synchronous=FULL (else NORMAL) */
  int batch_max;           /* writes per transaction at most */
  int batch_ms;            /* ms a batch stays open after its first write */
  int queue_max;           /* writes queued or uncommitted at most; past it SHOAL_EFULL */
  int read_timeout_ms;     /* a read waiting longer is answered SHOAL_ETIMEOUT unrun */
  size_t max_value;        /* bytes of one entity value at most */
  int test_hooks;          /* the stall command is allowed */
};

/* What a backend returns when the database is away (a lost connection, a
 * lock held elsewhere, a full disk): the queue rolls back, waits and runs
 * the batch again; nothing is answered meanwhile. */
#define DBMGR_RETRY 1

/* A database backend. Every call runs on the database thread, in order,
 * so a backend needs no locks (open runs before the thread starts). exec
 * runs one request; for a write it is inside begin .. commit. It writes
 * the answer's values into reply and returns 0, or returns a SHOAL_E*
 * with one line in err (the request's ERROR). With errors_abort 0 a
 * failed statement leaves the transaction usable for the others; with 1
 * (PostgreSQL) it aborts the transaction, and the queue rolls back and
 * runs the batch again without the failed write. Any call but close may
 * return DBMGR_RETRY (err says why). committed (NULL: never in doubt)
 * tells, after a commit returned DBMGR_RETRY, whether that commit landed
 * anyway (its answer lost with the connection): *landed 1 or 0, and 0;
 * or DBMGR_RETRY while the database is still away. */
struct dbmgr_backend {
  const char *name;
  int errors_abort;
  void *(*open)(const struct dbmgr_config *cfg, char *err, size_t errlen);
  int (*begin)(void *db, char *err, size_t errlen);
  int (*commit)(void *db, char *err, size_t errlen);
  int (*committed)(void *db, int *landed, char *err, size_t errlen);
  void (*rollback)(void *db);
  int (*exec)(void *db, const struct dbmgr_req *req, struct dbmgr_wire_buf *reply, char *err, size_t errlen);
  void (*close)(void *db);
};

extern const struct dbmgr_backend dbmgr_sqlite_backend;
extern const struct dbmgr_backend dbmgr_pg_backend;

/* ---- the queue and the database thread (dbmgr_queue.c) ---- */
struct shoal_context;
struct dbmgr_queue;

/* Starts the database thread over the opened db (the queue owns it from now). */
struct dbmgr_queue *dbmgr_queue_new(struct shoal_context *ctx, const struct dbmgr_config *cfg,
                                    const struct dbmgr_backend *be, void *db);
/* Queues req (ownership moves on 0). SHOAL_EFULL: db_queue_max writes wait
 * already; SHOAL_EEXITING: the queue is stopping. On error the caller
 * still owns req. */
int dbmgr_queue_push(struct dbmgr_queue *q, struct dbmgr_req *req);
/* Asks the thread to finish: what is queued runs, the open batch commits,
 * then the thread sends ctx a TEXT "flushed" from itself and ends. */
void dbmgr_queue_stop(struct dbmgr_queue *q);
/* Joins the thread (stopping it first) and closes the database. */
void dbmgr_queue_free(struct dbmgr_queue *q);
/* Frees a request and what it holds. */
void dbmgr_req_free(struct dbmgr_req *req);

#endif
