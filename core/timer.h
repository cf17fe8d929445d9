/*
 * timer.h - hierarchical timing wheel, 1 ms resolution.
 *
 * One process-wide wheel (a true registry), guarded by its own spinlock.
 * The timer thread calls shoal_timer_update() about once a millisecond; every
 * timer whose time has come is handed to the `fire` callback given at init,
 * outside the lock, in expiry order (same-expiry timers in insertion order).
 */
#ifndef SHOAL_TIMER_H
#define SHOAL_TIMER_H

#include <stdint.h>

typedef void (*shoal_timer_fire_fn)(uint32_t handle, int session);

/* Creates the wheel; its clock starts at the current monotonic time. */
void shoal_timer_init(shoal_timer_fire_fn fire);
/* Frees every pending timer without firing it. */
void shoal_timer_exit(void);
/* Arms a timer that fires (handle, session) after `ms` milliseconds (ms == 0
 * fires on the next update). Returns 0 or SHOAL_EINVAL when not initialised. */
int shoal_timer_add(uint32_t handle, int session, uint32_t ms);
/* Advances the wheel to the current monotonic time, firing what expired. */
void shoal_timer_update(void);
/* Advances the wheel to `now_ms` (ms since init) - for tests with a fake clock.
 * Never moves backwards. */
void shoal_timer_advance_to(uint64_t now_ms);
/* Milliseconds since init (the wheel's notion of now, updated by update()). */
uint64_t shoal_timer_now(void);
/* Unix time in seconds when the wheel was initialised. */
uint64_t shoal_timer_starttime(void);
/* Number of armed timers (for stats and tests). */
uint64_t shoal_timer_pending(void);
/* Monotonic clock in ms / ns, read directly. */
uint64_t shoal_timer_monotonic_ms(void);
uint64_t shoal_timer_monotonic_ns(void);

#endif
