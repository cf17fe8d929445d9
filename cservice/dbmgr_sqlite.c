/*
 * dbmgr_sqlite.c - the SQLite backend of the dbmgr (the embedded default).
 *
 * One file (db_path) in WAL mode; synchronous=FULL by default, so a
 * commit is on the disk before its writes are acknowledged (NORMAL keeps
 * every acknowledged write through a process kill, since the WAL is
 * written before the commit returns, but not through a power loss).
 * Every statement is prepared once at open. The schema:
 *
 *   accounts(id, name UNIQUE, pwhash, epoch, baseapp, state)
 *            a row per account; (epoch, baseapp, state) is the account
 *            directory row, changed only by compare-and-set on epoch
 *   entities(type, id, data)          a serialized Lua value per (type, id)
 *   index_decl(type, col)             the indexed columns the game declared
 *   entity_index(type, col, value, id)  one row per indexed value
 *
 * The PostgreSQL backend (dbmgr_pg.c) keeps the same tables and answers.
 *
 * Known limits: declaring an index does not index the entities already
 * saved (they are indexed at their next save); one connection, so a read
 * waits behind the writes queued before it.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "dbmgr_int.h"
#include "shoal.h"

static const char *const SCHEMA =
    "CREATE TABLE IF NOT EXISTS accounts(id INTEGER PRIMARY KEY AUTOINCREMENT, name BLOB NOT NULL UNIQUE,"
    " pwhash BLOB, epoch INTEGER NOT NULL DEFAULT 0, baseapp BLOB, state BLOB);"
    "CREATE TABLE IF NOT EXISTS entities(type TEXT NOT NULL, id INTEGER NOT NULL, data BLOB NOT NULL,"
    " PRIMARY KEY(type, id));"
    "CREATE TABLE IF NOT EXISTS index_decl(type TEXT NOT NULL, col TEXT NOT NULL, PRIMARY KEY(type, col))"
    " WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS entity_index(type TEXT NOT NULL, col TEXT NOT NULL, value, id INTEGER NOT NULL,"
    " PRIMARY KEY(type, col, value, id)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS entity_index_by_id ON entity_index(type, id);";

/* The prepared statements: X(name, sql). */
#define SQLITE_STMT_LIST(X)                                                                              \
  X(begin, "BEGIN IMMEDIATE")                                                                            \
  X(commit, "COMMIT")                                                                                    \
  X(rollback, "ROLLBACK")                                                                                \
  X(acc_insert, "INSERT INTO accounts(name, pwhash) VALUES(?1, ?2)")                                     \
  X(acc_get, "SELECT id, pwhash FROM accounts WHERE name = ?1")                                          \
  X(acc_setpw, "UPDATE accounts SET pwhash = ?2 WHERE id = ?1")                                          \
  X(ent_load, "SELECT data FROM entities WHERE type = ?1 AND id = ?2")                                   \
  X(ent_save, "INSERT INTO entities(type, id, data) VALUES(?1, ?2, ?3)"                                  \
              " ON CONFLICT(type, id) DO UPDATE SET data = excluded.data")                               \
  X(ent_delete, "DELETE FROM entities WHERE type = ?1 AND id = ?2")                                      \
  X(idx_clear, "DELETE FROM entity_index WHERE type = ?1 AND id = ?2")                                   \
  X(idx_insert, "INSERT OR IGNORE INTO entity_index(type, col, value, id) VALUES(?1, ?2, ?3, ?4)")       \
  X(decl_insert, "INSERT OR IGNORE INTO index_decl(type, col) VALUES(?1, ?2)")                           \
  X(decl_list, "SELECT col FROM index_decl WHERE type = ?1 ORDER BY col")                                \
  X(decl_has, "SELECT 1 FROM index_decl WHERE type = ?1 AND col = ?2")                                   \
  X(decl_any, "SELECT 1 FROM index_decl WHERE type = ?1 LIMIT 1")                                        \
  X(query, "SELECT i.id, e.data FROM entity_index i JOIN entities e ON e.type = i.type AND e.id = i.id"  \
           " WHERE i.type = ?1 AND i.col = ?2 AND i.value >= ?3 AND i.value <= ?4"                       \
           " ORDER BY i.value, i.id LIMIT ?5")                                                           \
  X(dir_get, "SELECT epoch, baseapp, state FROM accounts WHERE id = ?1")                                 \
  X(dir_cas, "UPDATE accounts SET epoch = epoch + 1, baseapp = ?3, state = 'logging_in'"                 \
             " WHERE id = ?1 AND epoch = ?2")                                                            \
  X(dir_state, "UPDATE accounts SET state = ?3 WHERE id = ?1 AND epoch = ?2")                           \
  X(dir_release, "UPDATE accounts SET state = 'offline' WHERE CAST(baseapp AS TEXT) = CAST(?1 AS TEXT)"  \
                 " AND CAST(state AS TEXT) <> 'offline'")

struct sqlite_db {
  sqlite3 *db;
#define SQLITE_STMT_FIELD(name, sql) sqlite3_stmt *name;
  SQLITE_STMT_LIST(SQLITE_STMT_FIELD)
#undef SQLITE_STMT_FIELD
};

/* A failed call: DBMGR_RETRY when the database is away for now (the file
 * locked by another process past the busy timeout, a full disk, an I/O
 * error), so the batch waits and runs again; SHOAL_EINVAL otherwise. */
static int fail(sqlite3 *db, char *err, size_t errlen, const char *what) {
  snprintf(err, errlen, "dbmgr: sqlite: %s: %s", what, sqlite3_errmsg(db));
  switch (sqlite3_errcode(db) & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_IOERR:
      return DBMGR_RETRY;
    default:
      return SHOAL_EINVAL;
  }
}

static void sqlite_close(void *ud) {
  struct sqlite_db *s = ud;
  if (s == NULL) return;
#define SQLITE_STMT_FINAL(name, sql) sqlite3_finalize(s->name);
  SQLITE_STMT_LIST(SQLITE_STMT_FINAL)
#undef SQLITE_STMT_FINAL
  sqlite3_close(s->db);
  shoal_free(s);
}

static void *sqlite_open(const struct dbmgr_config *cfg, char *err, size_t errlen) {
  struct sqlite_db *s = shoal_malloc(sizeof(*s));
  memset(s, 0, sizeof(*s));
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(cfg->path, &s->db, flags, NULL) != SQLITE_OK) {
    snprintf(err, errlen, "cannot open %s: %s", cfg->path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
    sqlite_close(s);
    return NULL;
  }
  /* Another process holding the file (a second dbmgr on it) is waited for
   * a little, then refused: one dbmgr owns a database. */
  sqlite3_busy_timeout(s->db, 1000);
  char pragmas[160];
  snprintf(pragmas, sizeof(pragmas), "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; PRAGMA foreign_keys=OFF;",
           cfg->sync_full ? "FULL" : "NORMAL");
  char *msg = NULL;
  if (sqlite3_exec(s->db, pragmas, NULL, NULL, &msg) != SQLITE_OK ||
      sqlite3_exec(s->db, SCHEMA, NULL, NULL, &msg) != SQLITE_OK) {
    snprintf(err, errlen, "%s: %s", cfg->path, msg ? msg : sqlite3_errmsg(s->db));
    sqlite3_free(msg);
    sqlite_close(s);
    return NULL;
  }
#define SQLITE_STMT_PREP(name, sql)                                             \
  if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->name, NULL) != SQLITE_OK) { \
    snprintf(err, errlen, "prepare %s: %s", #name, sqlite3_errmsg(s->db));      \
    sqlite_close(s);                                                            \
    return NULL;                                                                \
  }
  SQLITE_STMT_LIST(SQLITE_STMT_PREP)
#undef SQLITE_STMT_PREP
  return s;
}

/* Runs a statement without rows to its end; returns the sqlite3_step code. */
static int step_done(sqlite3_stmt *st) {
  int r = sqlite3_step(st);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return r;
}

static int sqlite_begin(void *ud, char *err, size_t errlen) {
  struct sqlite_db *s = ud;
  return step_done(s->begin) == SQLITE_DONE ? 0 : fail(s->db, err, errlen, "begin");
}

static int sqlite_commit(void *ud, char *err, size_t errlen) {
  struct sqlite_db *s = ud;
  return step_done(s->commit) == SQLITE_DONE ? 0 : fail(s->db, err, errlen, "commit");
}

static void sqlite_rollback(void *ud) {
  struct sqlite_db *s = ud;
  if (!sqlite3_get_autocommit(s->db)) step_done(s->rollback);
}

static void bind_str(sqlite3_stmt *st, int i, const struct dbmgr_val *v) {
  sqlite3_bind_blob(st, i, v->s, (int)v->len, SQLITE_STATIC);
}

/* Binds a name (entity type, column) as TEXT, so it compares as text. */
static void bind_name(sqlite3_stmt *st, int i, const struct dbmgr_val *v) {
  sqlite3_bind_text(st, i, v->s, (int)v->len, SQLITE_STATIC);
}

/* An indexed value: an integer, a float or a string (as TEXT). */
static void bind_value(sqlite3_stmt *st, int i, const struct dbmgr_val *v) {
  switch (v->type) {
    case DBMGR_INT: sqlite3_bind_int64(st, i, v->i); break;
    case DBMGR_FLOAT: sqlite3_bind_double(st, i, v->d); break;
    case DBMGR_STR: sqlite3_bind_text(st, i, v->s, (int)v->len, SQLITE_STATIC); break;
    default: sqlite3_bind_null(st, i); break;
  }
}

/* Puts column c of the current row: NULL as nil, else as its type. */
static void put_column(struct dbmgr_wire_buf *b, sqlite3_stmt *st, int c) {
  switch (sqlite3_column_type(st, c)) {
    case SQLITE_INTEGER: dbmgr_wire_int(b, sqlite3_column_int64(st, c)); break;
    case SQLITE_FLOAT: dbmgr_wire_float(b, sqlite3_column_double(st, c)); break;
    case SQLITE_NULL: dbmgr_wire_nil(b); break;
    default: {
      const void *p = sqlite3_column_blob(st, c);
      dbmgr_wire_str(b, p, (size_t)sqlite3_column_bytes(st, c));
    }
  }
}

/* Is column col of type declared indexed? */
static int declared(struct sqlite_db *s, const struct dbmgr_val *type, const struct dbmgr_val *col) {
  bind_name(s->decl_has, 1, type);
  bind_name(s->decl_has, 2, col);
  int r = sqlite3_step(s->decl_has) == SQLITE_ROW;
  sqlite3_reset(s->decl_has);
  sqlite3_clear_bindings(s->decl_has);
  return r;
}

/* a: type, id, value, then nargs - 3 (column, value) pairs. */
static int entity_save(struct sqlite_db *s, const struct dbmgr_val *a, int nargs, struct dbmgr_wire_buf *b, char *err,
                       size_t errlen) {
  /* Check every indexed column before writing anything. */
  for (int k = 3; k + 1 < nargs; k += 2) {
    if (!declared(s, &a[0], &a[k])) {
      snprintf(err, errlen, "dbmgr: entity type '%.*s' has no indexed column '%.*s' (declare it first)",
               (int)a[0].len, a[0].s, (int)a[k].len, a[k].s);
      return SHOAL_EINVAL;
    }
  }
  bind_name(s->ent_save, 1, &a[0]);
  sqlite3_bind_int64(s->ent_save, 2, a[1].i);
  bind_str(s->ent_save, 3, &a[2]);
  if (step_done(s->ent_save) != SQLITE_DONE) return fail(s->db, err, errlen, "save");
  if (nargs > 3) {
    bind_name(s->idx_clear, 1, &a[0]);
    sqlite3_bind_int64(s->idx_clear, 2, a[1].i);
    if (step_done(s->idx_clear) != SQLITE_DONE) return fail(s->db, err, errlen, "index");
    for (int k = 3; k + 1 < nargs; k += 2) {
      if (a[k + 1].type == DBMGR_NIL) continue;
      bind_name(s->idx_insert, 1, &a[0]);
      bind_name(s->idx_insert, 2, &a[k]);
      bind_value(s->idx_insert, 3, &a[k + 1]);
      sqlite3_bind_int64(s->idx_insert, 4, a[1].i);
      if (step_done(s->idx_insert) != SQLITE_DONE) return fail(s->db, err, errlen, "index");
    }
  } else {
    /* A save without index values clears stale ones only when the type has any. */
    bind_name(s->decl_any, 1, &a[0]);
    int any = sqlite3_step(s->decl_any) == SQLITE_ROW;
    sqlite3_reset(s->decl_any);
    sqlite3_clear_bindings(s->decl_any);
    if (any) {
      bind_name(s->idx_clear, 1, &a[0]);
      sqlite3_bind_int64(s->idx_clear, 2, a[1].i);
      if (step_done(s->idx_clear) != SQLITE_DONE) return fail(s->db, err, errlen, "index");
    }
  }
  dbmgr_wire_bool(b, 1);
  return 0;
}

static int query(struct sqlite_db *s, const struct dbmgr_req *req, struct dbmgr_wire_buf *b, char *err,
                 size_t errlen) {
  const struct dbmgr_val *a = req->arg;
  bind_name(s->query, 1, &a[0]);
  bind_name(s->query, 2, &a[1]);
  bind_value(s->query, 3, &a[2]);
  bind_value(s->query, 4, a[3].type == DBMGR_NIL ? &a[2] : &a[3]);
  sqlite3_bind_int64(s->query, 5, a[4].i);
  dbmgr_wire_begin_array(b);
  int r;
  while ((r = sqlite3_step(s->query)) == SQLITE_ROW) {
    put_column(b, s->query, 0);
    put_column(b, s->query, 1);
  }
  sqlite3_reset(s->query);
  sqlite3_clear_bindings(s->query);
  if (r != SQLITE_DONE) return fail(s->db, err, errlen, "query");
  dbmgr_wire_end_array(b);
  return 0;
}

/* Runs a one-row select: puts its columns, or nils when there is no row. */
static int select_row(struct sqlite_db *s, sqlite3_stmt *st, int cols, struct dbmgr_wire_buf *b, char *err,
                      size_t errlen) {
  int r = sqlite3_step(st);
  if (r == SQLITE_ROW) {
    for (int c = 0; c < cols; c++) put_column(b, st, c);
  } else {
    for (int c = 0; c < cols; c++) dbmgr_wire_nil(b);
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return r == SQLITE_ROW || r == SQLITE_DONE ? 0 : fail(s->db, err, errlen, "select");
}

/* cas_login and dir_set_state: change the directory row if its epoch is
 * the expected one; else answer false and the current epoch. */
static int dir_cas(struct sqlite_db *s, sqlite3_stmt *st, const struct dbmgr_req *req, struct dbmgr_wire_buf *b,
                   char *err, size_t errlen) {
  const struct dbmgr_val *a = req->arg;
  sqlite3_bind_int64(st, 1, a[0].i);
  sqlite3_bind_int64(st, 2, a[1].i);
  bind_str(st, 3, &a[2]);
  if (step_done(st) != SQLITE_DONE) return fail(s->db, err, errlen, "directory");
  int changed = sqlite3_changes(s->db) > 0;
  sqlite3_bind_int64(s->dir_get, 1, a[0].i);
  int r = sqlite3_step(s->dir_get);
  int64_t epoch = r == SQLITE_ROW ? sqlite3_column_int64(s->dir_get, 0) : 0;
  sqlite3_reset(s->dir_get);
  sqlite3_clear_bindings(s->dir_get);
  if (r != SQLITE_ROW) {
    if (r != SQLITE_DONE) return fail(s->db, err, errlen, "directory");
    snprintf(err, errlen, "dbmgr: no account %lld", (long long)a[0].i);
    return SHOAL_EINVAL;
  }
  dbmgr_wire_bool(b, changed);
  dbmgr_wire_int(b, epoch);
  return 0;
}

/* entity_save_fenced: entity_save while the directory row of the account
 * still has the epoch, else nothing written and false, the current epoch.
 * One thread runs every request in order, inside the batch's transaction,
 * so no cas_login can move the epoch between the check and the write. */
static int save_fenced(struct sqlite_db *s, const struct dbmgr_req *req, struct dbmgr_wire_buf *b, char *err,
                       size_t errlen) {
  const struct dbmgr_val *a = req->arg;
  sqlite3_bind_int64(s->dir_get, 1, a[3].i);
  int r = sqlite3_step(s->dir_get);
  int64_t epoch = r == SQLITE_ROW ? sqlite3_column_int64(s->dir_get, 0) : 0;
  sqlite3_reset(s->dir_get);
  sqlite3_clear_bindings(s->dir_get);
  if (r != SQLITE_ROW) {
    if (r != SQLITE_DONE) return fail(s->db, err, errlen, "directory");
    snprintf(err, errlen, "dbmgr: no account %lld", (long long)a[3].i);
    return SHOAL_EINVAL;
  }
  if (epoch != a[4].i) {
    dbmgr_wire_bool(b, 0);
    dbmgr_wire_int(b, epoch);
    return 0;
  }
  struct dbmgr_val v[DBMGR_WIRE_MAX_VALUES];
  int n = req->nargs - 2;
  memcpy(v, a, 3 * sizeof(v[0]));
  memcpy(v + 3, a + 5, (size_t)(n - 3) * sizeof(v[0]));
  r = entity_save(s, v, n, b, err, errlen);
  if (r == 0) dbmgr_wire_int(b, epoch);
  return r;
}

static int sqlite_exec(void *ud, const struct dbmgr_req *req, struct dbmgr_wire_buf *b, char *err, size_t errlen) {
  struct sqlite_db *s = ud;
  const struct dbmgr_val *a = req->arg;
  int r;
  switch (req->op) {
    case DBMGR_OP_ACCOUNT_CREATE:
      bind_str(s->acc_insert, 1, &a[0]);
      if (a[1].type == DBMGR_STR) bind_str(s->acc_insert, 2, &a[1]);
      r = step_done(s->acc_insert);
      if (r == SQLITE_CONSTRAINT) {
        snprintf(err, errlen, "dbmgr: account name taken");
        return SHOAL_ENAMEEXIST;
      }
      if (r != SQLITE_DONE) return fail(s->db, err, errlen, "account_create");
      dbmgr_wire_int(b, sqlite3_last_insert_rowid(s->db));
      return 0;
    case DBMGR_OP_ACCOUNT_GET:
      bind_str(s->acc_get, 1, &a[0]);
      return select_row(s, s->acc_get, 2, b, err, errlen);
    case DBMGR_OP_ACCOUNT_SET_PASSWORD:
      sqlite3_bind_int64(s->acc_setpw, 1, a[0].i);
      bind_str(s->acc_setpw, 2, &a[1]);
      if (step_done(s->acc_setpw) != SQLITE_DONE) return fail(s->db, err, errlen, "account_set_password");
      dbmgr_wire_bool(b, sqlite3_changes(s->db) > 0);
      return 0;
    case DBMGR_OP_ENTITY_LOAD:
      bind_name(s->ent_load, 1, &a[0]);
      sqlite3_bind_int64(s->ent_load, 2, a[1].i);
      return select_row(s, s->ent_load, 1, b, err, errlen);
    case DBMGR_OP_ENTITY_SAVE:
      return entity_save(s, req->arg, req->nargs, b, err, errlen);
    case DBMGR_OP_ENTITY_SAVE_FENCED:
      return save_fenced(s, req, b, err, errlen);
    case DBMGR_OP_DIR_RELEASE:
      bind_str(s->dir_release, 1, &a[0]);
      if (step_done(s->dir_release) != SQLITE_DONE) return fail(s->db, err, errlen, "dir_release");
      dbmgr_wire_int(b, sqlite3_changes(s->db));
      return 0;
    case DBMGR_OP_ENTITY_DELETE:
      bind_name(s->ent_delete, 1, &a[0]);
      sqlite3_bind_int64(s->ent_delete, 2, a[1].i);
      if (step_done(s->ent_delete) != SQLITE_DONE) return fail(s->db, err, errlen, "entity_delete");
      r = sqlite3_changes(s->db) > 0;
      bind_name(s->idx_clear, 1, &a[0]);
      sqlite3_bind_int64(s->idx_clear, 2, a[1].i);
      if (step_done(s->idx_clear) != SQLITE_DONE) return fail(s->db, err, errlen, "entity_delete");
      dbmgr_wire_bool(b, r);
      return 0;
    case DBMGR_OP_INDEX_DECLARE:
      bind_name(s->decl_insert, 1, &a[0]);
      bind_name(s->decl_insert, 2, &a[1]);
      if (step_done(s->decl_insert) != SQLITE_DONE) return fail(s->db, err, errlen, "index_declare");
      dbmgr_wire_bool(b, 1);
      return 0;
    case DBMGR_OP_INDEX_LIST:
      bind_name(s->decl_list, 1, &a[0]);
      dbmgr_wire_begin_array(b);
      while ((r = sqlite3_step(s->decl_list)) == SQLITE_ROW) put_column(b, s->decl_list, 0);
      sqlite3_reset(s->decl_list);
      sqlite3_clear_bindings(s->decl_list);
      if (r != SQLITE_DONE) return fail(s->db, err, errlen, "index_list");
      dbmgr_wire_end_array(b);
      return 0;
    case DBMGR_OP_ENTITY_QUERY:
      return query(s, req, b, err, errlen);
    case DBMGR_OP_DIR_GET:
      sqlite3_bind_int64(s->dir_get, 1, a[0].i);
      return select_row(s, s->dir_get, 3, b, err, errlen);
    case DBMGR_OP_CAS_LOGIN:
      return dir_cas(s, s->dir_cas, req, b, err, errlen);
    case DBMGR_OP_DIR_SET_STATE:
      return dir_cas(s, s->dir_state, req, b, err, errlen);
    default:
      snprintf(err, errlen, "dbmgr: sqlite: command %d not handled", (int)req->op);
      return SHOAL_EINVAL;
  }
}

const struct dbmgr_backend dbmgr_sqlite_backend = {
    "sqlite", 0, sqlite_open, sqlite_begin, sqlite_commit, NULL, sqlite_rollback, sqlite_exec, sqlite_close,
};
