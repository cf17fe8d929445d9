/*
 * alloc.h - the allocation wrappers are declared in shoal.h; this header
 * stays so core files name what they use. jemalloc (settings in alloc.c)
 * replaces malloc itself when linked, so every allocation in the process,
 * Lua states included, goes through it.
 */
#ifndef SHOAL_ALLOC_H
#define SHOAL_ALLOC_H

#include <stddef.h>

#include "shoal.h"

#endif
