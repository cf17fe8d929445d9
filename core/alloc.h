/*
 * alloc.h - allocation wrappers (abort on out-of-memory; declared in
 * shoal.h) and the jemalloc settings. jemalloc replaces malloc itself when linked, so every
 * allocation in the process, Lua states included, goes through it.
 */
#ifndef SHOAL_ALLOC_H
#define SHOAL_ALLOC_H

#include <stddef.h>

#include "shoal.h"


#endif
