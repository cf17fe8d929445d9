/*
 * start.c - the node's threads and life cycle.
 *
 * Workers drain the global queue. A queue scheduled by a service running on
 * a worker goes to that worker's hand-off slot instead (like Go's runnext):
 * the worker runs it as soon as the current message is done, on the same
 * core, which halves the cost of a request/response between two services.
 * A hand-off that waits longer than HANDOFF_STEAL_NS is taken by a spinning
 * worker, and the timer thread moves one older than HANDOFF_MAX_NS to the
 * global queue, so a sender that keeps its worker busy (a flood of sends)
 * does not hold its receiver back. Every HANDOFF_FAIR_RUNS hand-offs in a
 * row the worker looks at the global queue first, so a ping-pong pair does
 * not starve the other services.
 *
 * An idle worker spins for a short while
 * (config `spin_us`, default 50) before it sleeps on a condition variable:
 * a message handed from one service to another is then picked up without a
 * futex round trip, which is what keeps request/response latency low. A
 * sender only signals the condition variable when some worker sleeps.
 *
 * Workers also poll the sockets (socket.c's netpoller): a worker out of
 * messages polls without blocking before it spins, and one idle worker at
 * a time sleeps in epoll_wait instead of on the condition variable (a
 * sender that finds nobody on the condition wakes it through the socket
 * server). A socket event thus wakes the worker that will run its
 * receiver, with no hop through another thread. A worker that keeps
 * finding messages polls every POLL_BUSY_NS, and the timer thread polls
 * when nobody did for POLL_FALLBACK_NS.
 *
 * The timer thread advances the wheel every millisecond and also polls the
 * flags set by signal handlers (SIGTERM/SIGINT: shutdown, SIGHUP: reopen
 * the log) and drives the shutdown.
 *
 * Shutdown: every service but the logger gets SYSTEM "EXIT" (snlua runs the
 * service's exit hooks, then exits); once only the logger is left it gets
 * "EXIT" too; when no service is left the workers stop. Services still
 * alive after `shutdown_timeout` ms are killed and the exit code is 2.
 */
#include "start.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "context.h"
#include "env.h"
#include "config.h"
#include "handle.h"
#include "log.h"
#include "module.h"
#include "monitor.h"
#include "remote.h"
#include "mq.h"
#include "socket.h"
#include "spinlock.h"
#include "clock.h"
#include "timer.h"

#define MAX_THREADS 64
#define SPIN_MISSES 4              /* fruitless idle spins before a worker stops spinning */
#define HANDOFF_STEAL_NS 5000u    /* a spinning worker may take a hand-off this old */
#define HANDOFF_MAX_NS 1000000u   /* the timer thread releases a hand-off this old */
#define HANDOFF_FAIR_RUNS 64      /* hand-offs in a row before the global queue comes first */
#define POLL_BUSY_NS 50000u       /* a worker busy with messages polls sockets this often */
#define POLL_FALLBACK_NS 1000000u /* the timer thread polls when nobody did for this long */
#define POLL_WAIT_MS 100          /* an idle worker's epoll_wait or timed wait: a safety net */

struct worker {
  _Atomic(struct shoal_mq *) next; /* hand-off slot (holds a global-queue reference) */
  atomic_ullong next_since;        /* when next was filled (monotonic ns) */
  pthread_t tid;                   /* thread */
  int weight;                      /* fairness weight, see shoal_mq_pop_batch */
  int runs;                        /* consecutive hand-off runs */
  int spin_misses;                 /* idle spins in a row that found no work */
  int wake_pending;                /* a wake-up this worker has put off (see shoal_start_wakeup) */
  struct shoal_monitor_slot *slot; /* this worker's monitor slot */
  char pad[64];                    /* keep workers' hot fields apart */
};

static struct worker workers[MAX_THREADS];
static _Thread_local struct worker *current_worker;

static struct {
  pthread_mutex_t mutex;       /* guards the sleep condition */
  pthread_cond_t cond;         /* sleeping workers wait here */
  atomic_int sleeping;         /* workers inside cond wait */
  atomic_int shutdown_request; /* set by SIGTERM/SIGINT or shoal_abort */
  atomic_int reopen_request;   /* set by SIGHUP */
  atomic_int exit_code;        /* process exit code */
  int nworker;
  uint64_t spin_ns;            /* idle spin before sleeping */
} S = {.mutex = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

uint64_t shoal_now(void) { return shoal_timer_now(); }
uint64_t shoal_starttime(void) { return shoal_timer_starttime(); }

void shoal_abort(int exit_code) {
  atomic_store(&S.exit_code, exit_code);
  atomic_store(&S.shutdown_request, 1);
}

static void wake_now(void) {
  /* Pairs with the sleeper's increment-then-check: either we see it
   * sleeping, or it sees the queue we just pushed. */
  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load_explicit(&S.sleeping, memory_order_relaxed) > 0) {
    pthread_mutex_lock(&S.mutex);
    pthread_cond_signal(&S.cond);
    pthread_mutex_unlock(&S.mutex);
  } else {
    shoal_socket_wake(); /* the idle worker may be waiting in epoll instead */
  }
}

/* A queue went to the global queue. From a worker the wake-up is put off
 * until its current batch ends, and then made
 * only if work is still waiting after the worker took its own next queue:
 * a service that sends to thirty others wakes one sleeper once, not thirty
 * times, and a message the sender's worker will run next wakes nobody.
 * (A futex wake-up is a system call and, in a VM, an interrupt to another
 * core: the most expensive thing on the path of a small message.) A
 * message that runs long does not hold its sends back: a worker pushes to
 * the global queue only when its hand-off slot is taken, and the timer
 * thread releases a hand-off older than HANDOFF_MAX_NS with a wake-up of
 * its own. (A tick that woke a sleeper for any waiting work was tried and
 * cost a quarter of the gate benchmark's throughput on one worker.) */
void shoal_start_wakeup(void) {
  struct worker *w = current_worker;
  if (w == NULL) {
    wake_now();
  } else {
    w->wake_pending = 1;
  }
}

/* The wake-up w put off, now that it took its next queue. */
static void flush_wakeup(struct worker *w) {
  if (!w->wake_pending) return;
  w->wake_pending = 0;
  if (shoal_globalmq_nonempty()) wake_now();
}

void shoal_start_wakeup_all(void) {
  pthread_mutex_lock(&S.mutex);
  pthread_cond_broadcast(&S.cond);
  pthread_mutex_unlock(&S.mutex);
  shoal_socket_wake();
}

static void on_signal(int sig) {
  if (sig == SIGHUP) atomic_store(&S.reopen_request, 1);
  else atomic_store(&S.shutdown_request, 1);
}

static int done(void) { return shoal_context_total() == 0; }

/* Whether an idle worker must not block: a queue waits or the node is done. */
static int has_work(void) { return shoal_globalmq_nonempty() || done(); }

int shoal_start_handoff(struct shoal_mq *q) {
  struct worker *w = current_worker;
  if (w == NULL) return 0;
  struct shoal_mq *old = atomic_exchange_explicit(&w->next, q, memory_order_acq_rel);
  atomic_store_explicit(&w->next_since, shoal_clock_ns(), memory_order_relaxed);
  if (old) {
    /* The newest hand-off wins (it is the likely reply partner). */
    shoal_globalmq_push(old);
    shoal_start_wakeup();
  }
  return 1;
}

/* Takes another worker's hand-off that has waited at least min_age ns. */
static struct shoal_mq *steal_handoff(struct worker *self, uint64_t min_age) {
  uint64_t now = shoal_clock_ns();
  for (int i = 0; i < S.nworker; i++) {
    struct worker *w = &workers[i];
    if (w == self) continue;
    struct shoal_mq *q = atomic_load_explicit(&w->next, memory_order_acquire);
    if (q == NULL) continue;
    uint64_t since = atomic_load_explicit(&w->next_since, memory_order_relaxed);
    if (now < since || now - since < min_age) continue;
    if (atomic_compare_exchange_strong(&w->next, &q, NULL)) return q;
  }
  return NULL;
}

/* Timer thread: hand-offs stuck behind a long-running message go to the
 * global queue, where any worker can take them. */
static void release_old_handoffs(void) {
  struct shoal_mq *q;
  while ((q = steal_handoff(NULL, HANDOFF_MAX_NS)) != NULL) {
    shoal_globalmq_push(q);
    shoal_start_wakeup();
  }
}

/* The next queue for w: its hand-off, else the global queue. */
static struct shoal_mq *next_queue(struct worker *w) {
  struct shoal_mq *q = NULL;
  if (w->runs < HANDOFF_FAIR_RUNS) {
    q = atomic_exchange_explicit(&w->next, NULL, memory_order_acq_rel);
    if (q) {
      w->runs++;
      return q;
    }
  }
  w->runs = 0;
  q = shoal_globalmq_pop();
  if (q == NULL) q = atomic_exchange_explicit(&w->next, NULL, memory_order_acq_rel);
  return q;
}

static void *worker_main(void *arg) {
  struct worker *w = arg;
  current_worker = w;
  while (!done()) {
    struct shoal_mq *q = next_queue(w);
    flush_wakeup(w); /* before this worker may spin or sleep */
    if (q) {
      shoal_context_dispatch(w->slot, q, w->weight);
      shoal_socket_poll(POLL_BUSY_NS);
      continue;
    }
    /* Out of messages: the sockets first. What they bring is pushed from
     * this thread, so it lands in this worker's hand-off slot. */
    if (shoal_socket_poll(0) > 0) continue;
    /* Spin a little: new work usually arrives within microseconds. But
     * spins that keep finding nothing (work comes from the network, later
     * than spin_us) only take a core from the threads that would bring it:
     * after SPIN_MISSES of them a worker sleeps at once, until a sleep
     * shorter than spin_us shows that spinning would have paid. */
    uint64_t until = shoal_clock_ns() + (w->spin_misses < SPIN_MISSES ? S.spin_ns : 0);
    int found = 0;
    while (!found) {
      for (int i = 0; i < 64 && !found; i++) {
        if (shoal_globalmq_nonempty()) found = 1;
        else shoal_spin_pause();
      }
      if (!found && (q = steal_handoff(w, HANDOFF_STEAL_NS)) != NULL) {
        shoal_context_dispatch(w->slot, q, w->weight);
        found = 1;
      }
      if (shoal_clock_ns() >= until) break;
    }
    if (found) {
      w->spin_misses = 0;
      continue;
    }
    if (w->spin_misses < SPIN_MISSES) w->spin_misses++;
    uint64_t slept_at = shoal_clock_ns();
    /* One idle worker sleeps in epoll_wait, so a socket event wakes the
     * thread that will run its receiver; the others on the condition. */
    if (shoal_socket_wait(POLL_WAIT_MS, has_work)) continue; /* (spinning never sees sockets) */
    pthread_mutex_lock(&S.mutex);
    atomic_fetch_add(&S.sleeping, 1);
    if (!shoal_globalmq_nonempty() && !done()) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_nsec += POLL_WAIT_MS * 1000000L; /* a safety net, not the wake-up path */
      if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
      }
      pthread_cond_timedwait(&S.cond, &S.mutex, &ts);
    }
    atomic_fetch_sub(&S.sleeping, 1);
    pthread_mutex_unlock(&S.mutex);
    if (shoal_clock_ns() - slept_at < S.spin_ns) w->spin_misses = 0;
  }
  return NULL;
}

static void send_system(uint32_t handle, const char *cmd) {
  size_t n = strlen(cmd);
  char *p = shoal_malloc(n);
  memcpy(p, cmd, n);
  struct shoal_message m = {0, 0, p, (uint32_t)n, SHOAL_PTYPE_SYSTEM};
  if (shoal_context_push(handle, &m) != 0) shoal_free(p);
}

static void timer_fire(uint32_t handle, int session) {
  struct shoal_message m = {0, session, NULL, 0, SHOAL_PTYPE_RESPONSE};
  shoal_context_push(handle, &m); /* a dead service's timers just vanish */
}

struct shutdown_state {
  int active;             /* shutdown begun */
  uint64_t deadline;      /* node time when we stop waiting */
  uint32_t *told;         /* live handles already told to exit, ascending */
  int ntold;
  int logger_told;        /* logger got EXIT */
  uint64_t next_scan;     /* next time to look for new services */
  uint64_t force_at;      /* when to exit even if services remain (0: not yet) */
};

/* Tells every service not told yet (except the logger) to exit. Both lists
 * are ascending, so one merge finds the new handles (a scan costs O(n), not
 * O(n^2), with tens of thousands of services); the current list then
 * becomes the told list, which forgets the services that are gone. A
 * service launched after the list was taken is told at the next scan. */
static void shutdown_scan(struct shutdown_state *st) {
  int cap = shoal_handle_count() + 16;
  uint32_t *list = shoal_malloc(sizeof(uint32_t) * (size_t)cap);
  int n = shoal_handle_list(list, cap);
  while (n == cap) { /* services launched meanwhile: the list is complete only when it has room left */
    cap *= 2;
    list = shoal_realloc(list, sizeof(uint32_t) * (size_t)cap);
    n = shoal_handle_list(list, cap);
  }
  uint32_t logger = shoal_log_logger();
  int j = 0;
  for (int i = 0; i < n; i++) {
    while (j < st->ntold && st->told[j] < list[i]) j++;
    if (j < st->ntold && st->told[j] == list[i]) continue;
    if (list[i] != logger) send_system(list[i], SHOAL_SYSTEM_EXIT);
  }
  shoal_free(st->told);
  st->told = list;
  st->ntold = n;
}

static void shutdown_step(struct shutdown_state *st) {
  uint64_t now = shoal_now();
  if (!st->active) {
    st->active = 1;
    st->deadline = now + (uint64_t)shoal_config_int("shutdown_timeout");
    shoal_log(NULL, SHOAL_LOG_INFO, "node shutting down (%d services)", shoal_context_total());
    shutdown_scan(st);
    st->next_scan = now + 200;
    return;
  }
  if (now >= st->next_scan) {
    shutdown_scan(st);
    st->next_scan = now + 200;
  }
  uint32_t logger = shoal_log_logger();
  int total = shoal_context_total();
  if (now >= st->deadline && total > (logger ? 1 : 0)) {
    int cap = total + 16;
    uint32_t *list = shoal_malloc(sizeof(uint32_t) * (size_t)cap);
    int n = shoal_handle_list(list, cap);
    shoal_log(NULL, SHOAL_LOG_ERROR, "shutdown timeout: killing %d services that did not exit",
              n - (logger ? 1 : 0));
    for (int i = 0; i < n; i++)
      if (list[i] != logger) shoal_context_retire(list[i]);
    shoal_free(list);
    atomic_store(&S.exit_code, 2);
    st->deadline = UINT64_MAX;
    st->force_at = now + 1000;
  }
  /* A worker stuck in a message can never finish its service: give the
   * killed services a second to go, then leave without them. */
  if (st->force_at && now >= st->force_at && shoal_context_total() > 0) {
    fprintf(stderr, "shoal: shutdown timeout: %d services still running (a worker is stuck), exiting\n",
            shoal_context_total());
    fflush(NULL);
    _exit(2);
  }
  if (!st->logger_told && shoal_handle_count() <= (logger ? 1 : 0)) {
    st->logger_told = 1;
    if (logger) {
      shoal_log(NULL, SHOAL_LOG_INFO, "node stopped");
      send_system(logger, SHOAL_SYSTEM_EXIT);
    }
  }
}

static void *timer_main(void *arg) {
  (void)arg;
  struct shutdown_state st = {0};
  while (!done()) {
    shoal_timer_update();
    release_old_handoffs();
    shoal_socket_poll(POLL_FALLBACK_NS); /* every worker is busy: do not leave the sockets unread */
    if (atomic_exchange(&S.reopen_request, 0)) {
      uint32_t logger = shoal_log_logger();
      if (logger) send_system(logger, SHOAL_SYSTEM_REOPEN);
    }
    if (atomic_load(&S.shutdown_request)) shutdown_step(&st);
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  shoal_free(st.told);
  shoal_start_wakeup_all();
  return NULL;
}

struct monitor_arg {
  struct shoal_monitor_slot *slots;
  int n;
};

static void *monitor_main(void *arg) {
  struct monitor_arg *ma = arg;
  uint64_t threshold = (uint64_t)shoal_config_int("monitor_stuck_ms");
  int interrupt = shoal_config_bool("monitor_interrupt");
  while (!done()) {
    if (threshold > 0) shoal_monitor_check(ma->slots, ma->n, threshold, interrupt);
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL);
  }
  return NULL;
}

void shoal_start_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
}

int shoal_start(void) {
  int nthread = (int)shoal_config_int("thread"); /* 1..64 by the schema */
  if (nthread < 1 || nthread > MAX_THREADS) nthread = nthread < 1 ? 1 : MAX_THREADS;
  S.nworker = nthread;
  S.spin_ns = (uint64_t)shoal_config_int("spin_us") * 1000u;
  atomic_store(&S.exit_code, 0);

  int level = shoal_log_parse_level(shoal_config_string("loglevel"));
  shoal_log_init(level >= 0 ? level : SHOAL_LOG_INFO);
  shoal_handle_init((uint32_t)shoal_config_int("node"));
  shoal_remote_init();
  shoal_globalmq_init();
  shoal_context_init();
  shoal_module_init(shoal_config_string("cpath"));
  shoal_clock_init();
  shoal_timer_init(timer_fire);
  if (shoal_socket_init() != 0) {
    fprintf(stderr, "shoal: cannot start the socket server\n");
    return 1;
  }

  char err[512];
  int64_t logger = shoal_context_new("logger", shoal_config_string("logfile"), err, sizeof(err));
  if (logger < 0) {
    fprintf(stderr, "shoal: cannot start the logger: %s\n", err);
    return 1;
  }
  shoal_handle_bindname((uint32_t)logger, ".logger");
  shoal_log_set_logger((uint32_t)logger);
  shoal_config_log_warnings();

  int64_t boot = shoal_context_new("snlua", shoal_config_string("bootstrap"), err, sizeof(err));
  if (boot < 0) {
    fprintf(stderr, "shoal: cannot start the bootstrap service: %s\n", err);
    return 1;
  }
  /* The first message of a Lua service starts it (see snlua.c). */
  send_system((uint32_t)boot, SHOAL_SYSTEM_START);

  struct shoal_monitor_slot *slots = shoal_monitor_create(nthread);
  pthread_t timer_tid, monitor_tid;
  struct monitor_arg ma = {slots, nthread};
  /* Weight 0: each turn drains a snapshot of the queue (at most 32). Config
   * `weight` (e.g. 1: half the queue) trades throughput for fairness. */
  int weight = (int)shoal_config_int("weight");
  for (int i = 0; i < nthread; i++) {
    workers[i].weight = weight;
    workers[i].slot = &slots[i];
    workers[i].runs = 0;
    atomic_init(&workers[i].next, NULL);
    atomic_init(&workers[i].next_since, 0);
  }
  /* The timer thread reads the workers' hand-off slots: start it after. */
  pthread_create(&timer_tid, NULL, timer_main, NULL);
  pthread_create(&monitor_tid, NULL, monitor_main, &ma);
  for (int i = 0; i < nthread; i++) {
    pthread_create(&workers[i].tid, NULL, worker_main, &workers[i]);
  }
  for (int i = 0; i < nthread; i++) pthread_join(workers[i].tid, NULL);
  pthread_join(timer_tid, NULL);
  pthread_join(monitor_tid, NULL);
  shoal_socket_exit();

  shoal_monitor_release(slots);
  shoal_timer_exit();
  shoal_module_exit();
  shoal_handle_exit();
  shoal_globalmq_exit();
  return atomic_load(&S.exit_code);
}
