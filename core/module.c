/*
 * module.c - loader and cache of C service shared objects.
 */
#include "module.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#define MAX_MODULES 64

static struct {
  pthread_mutex_t lock;
  char *path;                         /* search path, owned */
  int n;                              /* loaded modules */
  struct shoal_module mods[MAX_MODULES];
  char err[512];                      /* last load error, for the caller */
} M = {.lock = PTHREAD_MUTEX_INITIALIZER};

void shoal_module_init(const char *path) {
  pthread_mutex_lock(&M.lock);
  shoal_free(M.path);
  M.path = shoal_strdup(path ? path : "./cservice/?.so");
  pthread_mutex_unlock(&M.lock);
}

void shoal_module_exit(void) {
  pthread_mutex_lock(&M.lock);
  /* Modules stay mapped: code of a released service may still be on a
   * thread's stack during shutdown, and the OS unmaps at exit anyway. */
  for (int i = 0; i < M.n; i++) shoal_free((char *)M.mods[i].name);
  M.n = 0;
  shoal_free(M.path);
  M.path = NULL;
  pthread_mutex_unlock(&M.lock);
}

/* Tries each pattern of the path; returns the dlopen handle or NULL. */
static void *try_open(const char *name) {
  char file[1024];
  M.err[0] = '\0';
  for (const char *p = M.path; (p = shoal_path_next(p, name, file, sizeof(file))) != NULL;) {
    void *dl = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (dl) return dl;
    const char *why = dlerror();
    /* Remember a real load error (bad symbol...), not a plain "no file". */
    if (why && !strstr(why, "No such file")) snprintf(M.err, sizeof(M.err), "%s", why);
  }
  if (M.err[0] == '\0')
    snprintf(M.err, sizeof(M.err), "module '%s' not found in cpath '%s'", name, M.path);
  return NULL;
}

static void *sym(void *dl, const char *name, const char *suffix) {
  char buf[128];
  snprintf(buf, sizeof(buf), "%s_%s", name, suffix);
  return dlsym(dl, buf);
}

struct shoal_module *shoal_module_query(const char *name, const char **err) {
  pthread_mutex_lock(&M.lock);
  for (int i = 0; i < M.n; i++) {
    if (strcmp(M.mods[i].name, name) == 0) {
      pthread_mutex_unlock(&M.lock);
      return &M.mods[i];
    }
  }
  struct shoal_module *m = NULL;
  if (M.n >= MAX_MODULES) {
    snprintf(M.err, sizeof(M.err), "too many modules (max %d)", MAX_MODULES);
  } else if (strlen(name) > 64 || strchr(name, '/')) {
    snprintf(M.err, sizeof(M.err), "bad module name '%s'", name);
  } else {
    void *dl = try_open(name);
    if (dl) {
      struct shoal_module tmp = {0};
      tmp.dl = dl;
      tmp.create = (shoal_module_create_fn)sym(dl, name, "create");
      tmp.init = (shoal_module_init_fn)sym(dl, name, "init");
      tmp.release = (shoal_module_release_fn)sym(dl, name, "release");
      tmp.signal = (shoal_module_signal_fn)sym(dl, name, "signal");
      if (tmp.init == NULL) {
        snprintf(M.err, sizeof(M.err), "module '%s' has no %s_init", name, name);
        dlclose(dl);
      } else {
        tmp.name = shoal_strdup(name);
        M.mods[M.n] = tmp;
        m = &M.mods[M.n++];
      }
    }
  }
  if (!m && err) *err = M.err;
  pthread_mutex_unlock(&M.lock);
  return m;
}
