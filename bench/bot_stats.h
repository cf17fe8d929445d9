/*
 * bot_stats - bench/bot's counters, latency samples and final report
 * (text or JSON). One bot process, one thread: no locks.
 */
#ifndef SHOAL_BOT_STATS_H
#define SHOAL_BOT_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bot_proto.h"

/* Where a bot was when it failed (the report's "failures by stage"). */
enum bot_stage {
  BOT_ST_LOGIN_CONNECT, /* connecting to a loginapp */
  BOT_ST_WELCOME,       /* HELLO sent, waiting for WELCOME */
  BOT_ST_LOGIN_REPLY,   /* request sent, waiting for LOGIN_OK */
  BOT_ST_GATE_CONNECT,  /* connecting to the gate */
  BOT_ST_ENTER,         /* ENTER sent, waiting for ENTER_OK */
  BOT_ST_PLAY,          /* rounds of MOVE, PING, SAY */
  BOT_ST_LOGOUT,        /* LOGOUT sent, waiting for BYE */
  BOT_ST_COUNT
};

/* Latency samples in microseconds, kept whole (4 bytes each) for exact percentiles. */
struct bot_samples {
  uint32_t *v;     /* owned */
  size_t n, cap;   /* used, allocated */
  int sorted;      /* v is sorted (percentiles sort once) */
};

#define BOT_CODES 256 /* error codes counted one by one; larger ones in the last slot */

struct bot_stats {
  long bots;                          /* bots run */
  long logins_ok;                     /* LOGIN_OK received */
  long entered;                       /* ENTER_OK received (a login path completed) */
  long completed;                     /* BYE received after the rounds */
  long failed;                        /* bots that ended in a failure */
  long kicked;                        /* bots whose session a KICK or a newer login ended (not followed) */
  long kicks;                         /* KICKs received */
  long redirects;                     /* REDIRECTs received (and followed) */
  long tickets;                       /* TICKETs (fresh resume tickets) received */
  long superseded;                    /* TOKEN_USED at ENTER with --shared-accounts */
  long retries;                       /* login attempts started again (retry_after_ms, refused gate, kick) */
  long fallbacks;                     /* of those: a gate that refused the connection */
  long rounds;                        /* play rounds completed (all replies checked) */
  long chats_other;                   /* CHATs of other players received */
  long lost;                          /* sessions lost without a KICK (a close, or no answer in --answer-ms) */
  long resumed;                       /* of those: back by a RESUME */
  long relogged;                      /* of those: back by a password login (a refusal, no gate) */
  long walks, aoi_records, props, worlds; /* --world: WALKs sent, AOI records and PROPs received, later WORLDs */
  long restored;                      /* positions a server gave back after a loss (RESUME, recreated space) */
  long restored_unknown;              /* of those: in none of the bot's last acknowledged positions */
  double restored_lost_ms;            /* max of (loss noticed - acknowledged state superseded), wall ms */
  long refused[BOT_REFUSED_REASONS];  /* REFUSED by reason (0: an unknown one) */
  long errors[BOT_CODES];             /* ERROR frames received, by code */
  long kick_codes[BOT_CODES];         /* KICK frames received, by code */
  long fail_stage[BOT_ST_COUNT];      /* failures by stage */
  long fail_timeout[BOT_ST_COUNT];    /* of those: the step's deadline passed */
  struct bot_samples login;           /* connect to the loginapp -> ENTER_OK (the attempt that won) */
  struct bot_samples login_total;     /* first connect -> ENTER_OK, retries and their waits included */
  struct bot_samples rtt;             /* MOVE->MOVED, PING->PONG, SAY->own CHAT */
  struct bot_samples world_back;      /* a later WORLD: since the bot's last answer from its space */
  struct bot_samples back;            /* a lost session -> playing again (resumed or relogged) */
  uint64_t t_first_start, t_last_enter; /* the logins/s window (monotonic ns) */
  uint64_t t_begin, t_end;            /* the whole run */
};

/* Adds one sample of ns nanoseconds. */
void bot_samples_add(struct bot_samples *s, uint64_t ns);
/* The p-th percentile (0..100) in milliseconds, 0 when there are none. */
double bot_samples_pct(struct bot_samples *s, double p);
/* The name of a protocol error code (docs/protocol.md section 3), or NULL. */
const char *bot_code_name(unsigned code);
/* The name of a stage, for the report. */
const char *bot_stage_name(enum bot_stage st);
/* Logins per second over the login window. */
double bot_stats_logins_per_s(const struct bot_stats *s);
/* Prints the report: human lines, or one JSON object (json != 0). */
void bot_stats_report(struct bot_stats *s, FILE *f, int json);
/* Frees the samples. */
void bot_stats_free(struct bot_stats *s);

#endif
