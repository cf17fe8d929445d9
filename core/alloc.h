/*
 * alloc.h - allocation wrappers (abort on out-of-memory) and process-wide
 * memory figures. jemalloc replaces malloc itself when linked, so every
 * allocation in the process, Lua states included, goes through it.
 */
#ifndef SHOAL_ALLOC_H
#define SHOAL_ALLOC_H

#include <stddef.h>

#include "shoal.h"

/* Bytes the allocator reports as allocated by the application (jemalloc's
 * stats.allocated; 0 when built without jemalloc). */
size_t shoal_alloc_total(void);
/* Bytes of resident memory of the process (from /proc/self/statm). */
size_t shoal_alloc_resident(void);
/* Human-readable allocator name for logs. */
const char *shoal_alloc_name(void);

#endif
