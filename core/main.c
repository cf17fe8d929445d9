/*
 * main.c - `shoal CONFIG`: load and check the config, run the node.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "env.h"
#include "start.h"

int main(int argc, char *argv[]) {
  if (argc == 2 && strcmp(argv[1], "--config-keys") == 0) {
    shoal_config_print_keys(stdout);
    return 0;
  }
  if (argc != 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
    fprintf(stderr, "usage: shoal CONFIG | shoal --config-keys\n");
    return 2;
  }
  shoal_start_signals();
  char err[1024];
  shoal_env_init();
  if (shoal_config_load(argv[1], err, sizeof(err)) != 0 || shoal_config_validate(argv[1], err, sizeof(err)) != 0) {
    fprintf(stderr, "shoal: %s\n", err);
    return 1;
  }
  int code = shoal_start();
  shoal_env_exit();
  return code;
}
