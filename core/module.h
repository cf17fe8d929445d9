/*
 * module.h - C service modules: shared objects found on a search path.
 *
 * A module NAME is NAME.so found by replacing '?' in each ';'-separated
 * pattern of the path (config key `cpath`). It exports NAME_create,
 * NAME_init, NAME_release and optionally NAME_signal. Loaded modules are
 * cached for the life of the process (a true registry, one lock).
 */
#ifndef SHOAL_MODULE_H
#define SHOAL_MODULE_H

#include "shoal.h" /* enum shoal_signal: what NAME_signal receives */

struct shoal_context;

typedef void *(*shoal_module_create_fn)(void);
typedef int (*shoal_module_init_fn)(void *inst, struct shoal_context *ctx, const char *args);
typedef void (*shoal_module_release_fn)(void *inst);
typedef void (*shoal_module_signal_fn)(void *inst, int signal);

struct shoal_module {
  const char *name;                 /* module name (owned by the cache) */
  void *dl;                         /* dlopen handle */
  shoal_module_create_fn create;    /* may be NULL: instance is then (void*)-1 */
  shoal_module_init_fn init;        /* required */
  shoal_module_release_fn release;  /* may be NULL */
  shoal_module_signal_fn signal;    /* may be NULL */
};

void shoal_module_init(const char *path);
void shoal_module_exit(void);
/* Finds (loading on first use) a module; NULL with *err set when missing. */
struct shoal_module *shoal_module_query(const char *name, const char **err);

#endif
