/*
 * start.h - the node: threads (workers, timer, monitor), signals, shutdown.
 */
#ifndef SHOAL_START_H
#define SHOAL_START_H

/* Starts the node from the already loaded configuration (env), runs until
 * it stops and returns the process exit code. */
int shoal_start(void);
/* Wakes one sleeping worker if any sleeps (cheap when none does). */
void shoal_start_wakeup(void);
/* Wakes every worker (used when the node may be done). */
void shoal_start_wakeup_all(void);

#endif
