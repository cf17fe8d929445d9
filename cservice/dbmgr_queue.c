/*
 * dbmgr_queue.c - the dbmgr's database thread: the only thread that
 * touches the database, so no worker ever waits on a disk or a server.
 *
 * Requests come in through one locked list and run in arrival order.
 * Writes open a transaction (BEGIN) and join the current batch; the batch
 * commits when it holds db_batch_max writes or db_batch_ms have passed
 * since its first write, and only then are its writes answered: an
 * acknowledged write is committed (with synchronous=FULL, on the disk).
 * A read runs at its turn, inside the open batch when there is one, so a
 * service sees its own writes in the order it made them; it is answered
 * at once. A read that waited longer than db_read_timeout_ms is answered
 * SHOAL_ETIMEOUT without running (its caller gave up already).
 *
 * The bound: writes queued or in an uncommitted batch never exceed
 * db_queue_max; past it a write is refused at once with SHOAL_EFULL.
 * Reads have the same bound of their own.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dbmgr_int.h"
#include "shoal.h"

struct dbmgr_queue {
  pthread_mutex_t lock;         /* guards the list, the counts and stopping */
  pthread_cond_t cond;          /* signalled on a push and on stop */
  struct dbmgr_req *head;       /* waiting requests, oldest first */
  struct dbmgr_req *tail;
  int writes;                   /* writes queued or in the open batch */
  int reads;                    /* reads queued */
  int stopping;                 /* no more pushes; flush and end */
  pthread_t thread;             /* the database thread */
  int started;                  /* thread is joinable */
  struct shoal_context *ctx;    /* the service: replies go out as it */
  struct dbmgr_config cfg;      /* a copy of the settings */
  const struct dbmgr_backend *be;
  void *db;                     /* the backend's connection, only the thread touches it */
  /* the open batch, only the thread touches it */
  struct dbmgr_req *batch_head; /* writes run, waiting for the commit */
  struct dbmgr_req *batch_tail;
  int batch_n;
  uint64_t batch_deadline;      /* ms (monotonic) when the batch must commit */
  int fail_commits;             /* the test hook: commits to fail as if the database were away */
  int lose_commits;             /* the test hook: commits whose answer is lost (they landed) */
  uint64_t away_since;          /* ms (monotonic) the outage began; 0 when the database is there */
  unsigned backoff;             /* ms to wait before the next try while away */
  char away[512];               /* why the database is unavailable, for the alert */
};

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void dbmgr_req_free(struct dbmgr_req *req) {
  if (req == NULL) return;
  shoal_free(req->msg);
  shoal_free(req->reply);
  shoal_free(req);
}

/* Sends req's answer (if a session wants one) and frees it. */
static void answer(struct dbmgr_queue *q, struct dbmgr_req *req) {
  if (req->session > 0) {
    if (req->reply_code == 0) {
      shoal_send(q->ctx, 0, req->source, SHOAL_PTYPE_RESPONSE, req->session, req->reply, req->reply_sz);
      req->reply = NULL; /* shoal_send owns it now */
    } else {
      shoal_reply_error(q->ctx, req->source, req->session, req->reply_code, req->reply, req->reply_sz);
    }
  }
  dbmgr_req_free(req);
}

static void set_error(struct dbmgr_req *req, int code, const char *text) {
  shoal_free(req->reply); /* also a RESPONSE from an earlier run of the batch */
  req->reply_sz = strlen(text);
  req->reply = shoal_malloc(req->reply_sz + 1);
  memcpy(req->reply, text, req->reply_sz + 1);
  req->reply_code = code;
}

/* Runs req on the backend; its answer waits in req. Returns the
 * backend's code (DBMGR_RETRY: the database is away, req must run again). */
static int run(struct dbmgr_queue *q, struct dbmgr_req *req) {
  char err[512];
  struct dbmgr_wire_buf b;
  dbmgr_wire_init(&b);
  int r;
  if (req->op == DBMGR_OP_STALL) { /* the test hooks: hold the thread as a slow disk would */
    usleep((useconds_t)req->arg[0].i * 1000);
    dbmgr_wire_bool(&b, 1);
    r = 0;
  } else if (req->op == DBMGR_OP_FAIL_COMMITS) { /* ... or fail commits as a database gone away */
    q->fail_commits = (int)req->arg[0].i;
    dbmgr_wire_bool(&b, 1);
    r = 0;
  } else if (req->op == DBMGR_OP_LOSE_COMMITS) { /* ... or lose the answer of commits that landed */
    if (q->be->committed == NULL) {
      snprintf(err, sizeof(err), "dbmgr: lose_commits: the %s backend's commits are never in doubt", q->be->name);
      r = SHOAL_EINVAL;
    } else {
      q->lose_commits = (int)req->arg[0].i;
      dbmgr_wire_bool(&b, 1);
      r = 0;
    }
  } else {
    r = q->be->exec(q->db, req, &b, err, sizeof(err));
  }
  if (r == 0) {
    shoal_free(req->reply);
    req->reply = dbmgr_wire_finish(&b, &req->reply_sz);
    req->reply_code = 0;
  } else {
    dbmgr_wire_discard(&b);
    if (r != DBMGR_RETRY) set_error(req, r, err);
    else snprintf(q->away, sizeof(q->away), "%s", err);
  }
  return r;
}

/* The database is away: one alert per outage, then a rollback and a
 * backoff (10 ms doubling to 1 s) before the next try. */
static void alert(struct dbmgr_queue *q) {
  if (q->away_since == 0) {
    q->away_since = mono_ms();
    q->backoff = 10;
    shoal_log(q->ctx, SHOAL_LOG_ERROR, "dbmgr: the database is unavailable (%s): %d writes wait, retrying", q->away,
              q->batch_n);
  }
}

static void outage(struct dbmgr_queue *q) {
  alert(q);
  q->be->rollback(q->db);
  usleep(q->backoff * 1000);
  if (q->backoff < 1000) q->backoff = q->backoff * 2 > 1000 ? 1000 : q->backoff * 2;
}

/* The outage (if any) is over: one line says how long it took. */
static void back(struct dbmgr_queue *q) {
  if (q->away_since == 0) return;
  shoal_log(q->ctx, SHOAL_LOG_WARN, "dbmgr: the database is back after %llu ms; %d writes committed",
            (unsigned long long)(mono_ms() - q->away_since), q->batch_n);
  q->away_since = 0;
}

/* Runs the open batch again in a new transaction, from its first write;
 * a write that failed with a real error is skipped (its error stands).
 * Returns 0 when the transaction holds the batch again, DBMGR_RETRY when
 * the database is away, 1 when a write newly failed on a backend whose
 * errors abort the transaction (it must run again without that write). */
static int replay(struct dbmgr_queue *q) {
  char err[512];
  /* Any failure to begin keeps the outage going: running the batch
   * outside a transaction would commit its statements one by one. */
  if (q->be->begin(q->db, err, sizeof(err)) != 0) {
    snprintf(q->away, sizeof(q->away), "%s", err);
    return DBMGR_RETRY;
  }
  for (struct dbmgr_req *req = q->batch_head; req; req = req->next) {
    if (req->reply_code != 0) continue;
    int r = run(q, req);
    if (r == DBMGR_RETRY) return r;
    if (r != 0 && q->be->errors_abort) return 1;
  }
  return 0;
}

/* The database went away in the middle of the open batch (a statement, a
 * BEGIN or the COMMIT said DBMGR_RETRY). Nothing of the batch is
 * acknowledged yet, so it is rolled back and run again from its first
 * write after a backoff, until the backend takes every statement; new
 * requests queue meanwhile (bounded: past db_queue_max writes fail with
 * FULL). On return the transaction holds the whole batch again. */
static void recover(struct dbmgr_queue *q) {
  for (;;) {
    outage(q);
    int r;
    while ((r = replay(q)) == 1) q->be->rollback(q->db);
    if (r == 0) return;
  }
}

/* A statement failed (not an outage) on a backend whose errors abort the
 * transaction: the batch runs again without the failed writes. */
static void after_error(struct dbmgr_queue *q) {
  if (!q->be->errors_abort || q->batch_n == 0) return;
  for (;;) {
    q->be->rollback(q->db);
    int r = replay(q);
    if (r == 0) return;
    if (r == DBMGR_RETRY) {
      recover(q);
      return;
    }
  }
}

/* After a commit that answered DBMGR_RETRY: did it land after all (the
 * connection lost with its answer)? Waits, as an outage, until the
 * backend can tell. A backend without the question never lands one. */
static int landed(struct dbmgr_queue *q) {
  if (q->be->committed == NULL) return 0;
  for (;;) {
    char err[512];
    int yes = 0;
    if (q->be->committed(q->db, &yes, err, sizeof(err)) != DBMGR_RETRY) return yes;
    snprintf(q->away, sizeof(q->away), "%s", err);
    outage(q);
  }
}

/* Commits the open batch and answers its writes: with their answers when
 * the commit held, with the commit's error when it did not (nothing of
 * the batch is in the database then). A database that is away is waited
 * for (recover). */
static void commit(struct dbmgr_queue *q) {
  if (q->batch_n == 0) return;
  char err[512];
  int r;
  for (;;) {
    int tried = 0; /* the backend's commit ran (so it may have landed) */
    if (q->fail_commits > 0) {
      q->fail_commits--;
      snprintf(err, sizeof(err), "dbmgr: commit failed by the fail_commits test hook");
      r = DBMGR_RETRY;
    } else {
      tried = 1;
      r = q->be->commit(q->db, err, sizeof(err));
      if (r == 0 && q->lose_commits > 0) { /* it landed; act as if its answer were lost */
        q->lose_commits--;
        snprintf(err, sizeof(err), "dbmgr: the commit's answer lost by the lose_commits test hook");
        r = DBMGR_RETRY;
      }
    }
    if (r != DBMGR_RETRY) break;
    snprintf(q->away, sizeof(q->away), "%s", err);
    if (tried && landed(q)) {
      r = 0;
      break;
    }
    recover(q);
  }
  back(q);
  if (r != 0) {
    q->be->rollback(q->db);
    shoal_log(q->ctx, SHOAL_LOG_ERROR, "dbmgr: commit of %d writes failed: %s", q->batch_n, err);
  }
  int n = q->batch_n;
  struct dbmgr_req *req = q->batch_head;
  q->batch_head = q->batch_tail = NULL;
  q->batch_n = 0;
  while (req) {
    struct dbmgr_req *next = req->next;
    if (r != 0) {
      char text[600];
      snprintf(text, sizeof(text), "dbmgr: the batch did not commit: %s", err);
      set_error(req, r, text);
    }
    answer(q, req);
    req = next;
  }
  pthread_mutex_lock(&q->lock);
  q->writes -= n;
  pthread_mutex_unlock(&q->lock);
}

static void run_write(struct dbmgr_queue *q, struct dbmgr_req *req) {
  req->next = NULL;
  if (q->batch_tail) q->batch_tail->next = req;
  else q->batch_head = req;
  q->batch_tail = req;
  int r = 0;
  if (++q->batch_n == 1) {
    char err[512];
    r = q->be->begin(q->db, err, sizeof(err));
    if (r != 0 && r != DBMGR_RETRY) {
      char text[600];
      snprintf(text, sizeof(text), "dbmgr: cannot begin a transaction: %s", err);
      set_error(req, r, text);
      q->batch_head = q->batch_tail = NULL;
      q->batch_n = 0;
      answer(q, req);
      pthread_mutex_lock(&q->lock);
      q->writes--;
      pthread_mutex_unlock(&q->lock);
      return;
    }
    if (r == DBMGR_RETRY) snprintf(q->away, sizeof(q->away), "%s", err);
    q->batch_deadline = mono_ms() + (uint64_t)q->cfg.batch_ms;
  }
  if (r == 0) r = run(q, req);
  if (r == DBMGR_RETRY) recover(q);
  else if (r != 0) after_error(q);
  if (q->batch_n >= q->cfg.batch_max) commit(q);
}

/* A read runs at its turn; one that waited past db_read_timeout_ms is
 * answered TIMEOUT unrun. While the database is away it is tried again
 * with a backoff until its timeout, then answered TIMEOUT. */
static void run_read(struct dbmgr_queue *q, struct dbmgr_req *req) {
  unsigned backoff = 10;
  for (;;) {
    uint64_t waited = shoal_now() - req->arrival;
    if (waited > (uint64_t)q->cfg.read_timeout_ms) {
      char text[700];
      snprintf(text, sizeof(text), "dbmgr: the read waited %llu ms, over db_read_timeout_ms=%d%s%s",
               (unsigned long long)waited, q->cfg.read_timeout_ms, backoff > 10 ? "; the database is unavailable: " : "",
               backoff > 10 ? q->away : "");
      set_error(req, SHOAL_ETIMEOUT, text);
      break;
    }
    int r = run(q, req);
    if (r != 0 && r != DBMGR_RETRY) after_error(q); /* a read inside the batch may abort its transaction */
    if (r != DBMGR_RETRY) break;
    /* The open batch's transaction went with the connection: run it
     * again first (the read would not see it otherwise). */
    if (q->batch_n > 0) {
      recover(q);
    } else {
      alert(q); /* a read alone meets the outage (no write waits): the same one alert */
      usleep(backoff * 1000);
    }
    if (backoff < 1000) backoff *= 2;
  }
  if (req->reply_code == 0 && q->batch_n == 0) back(q);
  answer(q, req);
  pthread_mutex_lock(&q->lock);
  q->reads--;
  pthread_mutex_unlock(&q->lock);
}

static void *db_thread(void *ud) {
  struct dbmgr_queue *q = ud;
  for (;;) {
    pthread_mutex_lock(&q->lock);
    while (q->head == NULL && !q->stopping) {
      if (q->batch_n == 0) {
        pthread_cond_wait(&q->cond, &q->lock);
        continue;
      }
      uint64_t now = mono_ms();
      if (now >= q->batch_deadline) break;
      struct timespec ts = {(time_t)(q->batch_deadline / 1000), (long)(q->batch_deadline % 1000) * 1000000};
      pthread_cond_timedwait(&q->cond, &q->lock, &ts);
    }
    struct dbmgr_req *list = q->head;
    q->head = q->tail = NULL;
    int stop = q->stopping;
    pthread_mutex_unlock(&q->lock);

    while (list) {
      struct dbmgr_req *req = list;
      list = list->next;
      if (req->write) run_write(q, req);
      else run_read(q, req);
      /* A long list must not hold a batch open past its deadline. */
      if (q->batch_n > 0 && mono_ms() >= q->batch_deadline) commit(q);
    }
    if (q->batch_n > 0 && (mono_ms() >= q->batch_deadline || stop)) commit(q);
    if (stop) {
      pthread_mutex_lock(&q->lock);
      int empty = q->head == NULL;
      pthread_mutex_unlock(&q->lock);
      if (empty) break;
    }
  }
  /* Everything is committed: tell the service it may exit. */
  static const char flushed[] = "flushed";
  void *msg = shoal_malloc(sizeof(flushed));
  memcpy(msg, flushed, sizeof(flushed));
  shoal_send(q->ctx, 0, shoal_self(q->ctx), SHOAL_PTYPE_TEXT, 0, msg, sizeof(flushed) - 1);
  return NULL;
}

struct dbmgr_queue *dbmgr_queue_new(struct shoal_context *ctx, const struct dbmgr_config *cfg,
                                    const struct dbmgr_backend *be, void *db) {
  struct dbmgr_queue *q = shoal_malloc(sizeof(*q));
  memset(q, 0, sizeof(*q));
  pthread_mutex_init(&q->lock, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&q->cond, &ca);
  pthread_condattr_destroy(&ca);
  q->ctx = ctx;
  q->cfg = *cfg;
  q->be = be;
  q->db = db;
  int r = pthread_create(&q->thread, NULL, db_thread, q);
  if (r != 0) {
    shoal_log(ctx, SHOAL_LOG_ERROR, "dbmgr: cannot start the database thread: %s", strerror(r));
    be->close(db);
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->lock);
    shoal_free(q);
    return NULL;
  }
  q->started = 1;
  return q;
}

int dbmgr_queue_push(struct dbmgr_queue *q, struct dbmgr_req *req) {
  pthread_mutex_lock(&q->lock);
  if (q->stopping) {
    pthread_mutex_unlock(&q->lock);
    return SHOAL_EEXITING;
  }
  int *count = req->write ? &q->writes : &q->reads;
  if (*count >= q->cfg.queue_max) {
    pthread_mutex_unlock(&q->lock);
    return SHOAL_EFULL;
  }
  ++*count;
  req->next = NULL;
  if (q->tail) q->tail->next = req;
  else q->head = req;
  q->tail = req;
  /* The thread only waits when the list was empty. */
  if (q->head == req) pthread_cond_signal(&q->cond);
  pthread_mutex_unlock(&q->lock);
  return 0;
}

void dbmgr_queue_stop(struct dbmgr_queue *q) {
  pthread_mutex_lock(&q->lock);
  q->stopping = 1;
  pthread_cond_signal(&q->cond);
  pthread_mutex_unlock(&q->lock);
}

void dbmgr_queue_free(struct dbmgr_queue *q) {
  if (q == NULL) return;
  dbmgr_queue_stop(q);
  if (q->started) pthread_join(q->thread, NULL);
  q->be->close(q->db);
  pthread_cond_destroy(&q->cond);
  pthread_mutex_destroy(&q->lock);
  shoal_free(q);
}
