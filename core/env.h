/*
 * env.h - the node's configuration as string key/values.
 * Filled once from the config file at start, read by services through
 * shoal_getenv. Values are copied; returned pointers stay valid until exit
 * (a key set twice keeps its old value alive: settings are rare).
 */
#ifndef SHOAL_ENV_H
#define SHOAL_ENV_H

#include <stdint.h>

void shoal_env_init(void);
void shoal_env_exit(void);
void shoal_env_set(const char *key, const char *value);
const char *shoal_env_get(const char *key);
/* Integer value of key, or def when unset or not a number. */
int64_t shoal_env_int(const char *key, int64_t def);

#endif
