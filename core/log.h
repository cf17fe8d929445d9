/*
 * log.h - the logging front end. shoal_log checks the level before
 * formatting, then sends the line to the logger service as a TEXT message
 * whose first byte is the level (a byte below 8, never printable text).
 * Before the logger exists and after it is gone, lines go to stderr.
 */
#ifndef SHOAL_LOG_H
#define SHOAL_LOG_H

#include <stdint.h>

#include "shoal.h"

void shoal_log_init(int level);
void shoal_log_set_logger(uint32_t handle);
uint32_t shoal_log_logger(void);
/* "debug", "info", "warn", "error" -> level, or -1. */
int shoal_log_parse_level(const char *name);
const char *shoal_log_level_name(int level);
/* Sends an already formatted line (len bytes) at level from source. */
void shoal_log_send(uint32_t source, int level, const char *text, size_t len);

#endif
