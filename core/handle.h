/*
 * handle.h - the handle table: 32-bit handles (high 8 bits node id, low 24
 * bits local id) to contexts, plus names (".local" and cluster-global).
 *
 * One process-wide table behind a reader/writer lock. Senders look a handle
 * up and push into its queue while holding the read lock, so a context that
 * is still in the table cannot be freed under them; removal takes the write
 * lock. Local ids are handed out increasing (wrapping at 2^24) so a handle
 * of a dead service is not reused soon.
 */
#ifndef SHOAL_HANDLE_H
#define SHOAL_HANDLE_H

#include <stdint.h>

#include "shoal.h"

#define SHOAL_NAME_MAX 64

void shoal_handle_init(uint32_t node);
void shoal_handle_exit(void);
uint32_t shoal_handle_node(void);
/* Is handle on another node? (node bits 0 mean "this node") */
int shoal_handle_is_remote(uint32_t handle);
/* Registers ctx; returns its handle (never 0), or 0 when the table is full. */
uint32_t shoal_handle_register(void *ctx);
/* Removes a handle and its names; returns the context it held, or NULL. */
void *shoal_handle_remove(uint32_t handle);
/* Takes the read lock and returns the context of handle (NULL if none).
 * The caller must call shoal_handle_unlock() in both cases. */
void *shoal_handle_lock_find(uint32_t handle);
void shoal_handle_unlock(void);
/* Name lookups: ".name" (local) or ":0100000a" (a handle in hex). */
uint32_t shoal_handle_findname(const char *name);
/* Binds name to handle. ".name" binds a live local service; a name without
 * the dot is cluster-global and may be bound to a remote handle (the harbor
 * does that when a peer announces it), moving when announced again. A name
 * bound to a local service is never moved: binding it again (from here or
 * from a peer) returns SHOAL_ENAMEEXIST.
 * Returns 0, SHOAL_ENAMEEXIST, SHOAL_ENOSERVICE or SHOAL_EINVAL. */
int shoal_handle_bindname(uint32_t handle, const char *name);
/* Writes up to max names bound to handle into out (pointers valid until the
 * name is removed); returns the count. */
int shoal_handle_names(uint32_t handle, const char **out, int max);
/* Number of live handles. */
int shoal_handle_count(void);
/* Copies up to max live handles into out (ascending); returns the count. */
int shoal_handle_list(uint32_t *out, int max);

#endif
