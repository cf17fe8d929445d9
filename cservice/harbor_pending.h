/*
 * harbor_pending.h - the calls waiting on one peer node.
 *
 * The harbor records (caller, session) of every request it forwards and
 * forgets it when the answer comes back, so that when the node is lost it
 * can fail exactly the calls still waiting, at once. A set keyed by the
 * pair, with the time it was added so that calls whose callers gave up long
 * ago (their own timeout) can be swept.
 */
#ifndef SHOAL_HARBOR_PENDING_H
#define SHOAL_HARBOR_PENDING_H

#include <stddef.h>
#include <stdint.h>

struct pending_set;

struct pending_set *pending_new(void);
void pending_free(struct pending_set *p);
void pending_add(struct pending_set *p, uint32_t caller, int session, uint64_t now_ms);
/* Returns 1 if it was there. */
int pending_remove(struct pending_set *p, uint32_t caller, int session);
size_t pending_count(const struct pending_set *p);
/* Calls fn (unless NULL: the entries are just forgotten) for every entry
 * added before `before_ms` (all: UINT64_MAX) and removes it. fn must not
 * touch the set. */
void pending_drain(struct pending_set *p, uint64_t before_ms,
                   void (*fn)(void *ud, uint32_t caller, int session), void *ud);

#endif
