/*
 * config.h - loads a node config file (Lua syntax) into the env.
 *
 * The file runs in a sandboxed environment whose reads fall back to the
 * standard globals (so os.getenv and string functions work) and which
 * predefines `root` (the source tree) and `build` (the build tree). Every
 * global the file sets becomes an env key: strings and numbers as text,
 * booleans as "1"/"0", tables as a Lua constructor string.
 */
#ifndef SHOAL_CONFIG_H
#define SHOAL_CONFIG_H

#include <stddef.h>
#include <stdio.h>

/* Returns 0, or -1 with one line describing the problem in err. */
int shoal_config_load(const char *path, char *err, size_t errlen);
/* Checks the loaded values (ranges, paths, the start service); 0 or -1. */
int shoal_config_validate(const char *path, char *err, size_t errlen);

/* Logs the warnings of shoal_config_load (unknown keys); call once the
 * logger runs. */
void shoal_config_log_warnings(void);
/* Writes the schema as the README's markdown table (`shoal --config-keys`). */
void shoal_config_print_keys(FILE *out);

#endif
