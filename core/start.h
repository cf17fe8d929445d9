/*
 * start.h - the node: threads (workers, timer, monitor), signals, shutdown.
 */
#ifndef SHOAL_START_H
#define SHOAL_START_H

struct shoal_mq;

/* Installs the signal handlers (first thing in main, so an early SIGTERM
 * is a graceful shutdown too). */
void shoal_start_signals(void);
/* Starts the node from the already loaded configuration (env), runs until
 * it stops and returns the process exit code. */
int shoal_start(void);
/* Called by a sender that just scheduled q: when the sender runs on a
 * worker, q goes to that worker's hand-off slot (it runs q right after the
 * current message, on the same core) and 1 is returned; otherwise 0 and
 * the caller pushes q to the global queue. */
int shoal_start_handoff(struct shoal_mq *q);
/* Wakes one sleeping worker if any sleeps (cheap when none does). */
void shoal_start_wakeup(void);
/* Wakes every worker (used when the node may be done). */
void shoal_start_wakeup_all(void);

#endif
