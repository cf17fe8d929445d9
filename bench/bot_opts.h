/*
 * bot_opts.h - bench/bot's options (docs/bot.md): one process-wide struct,
 * written by bot_opts_parse at start and read by the run (one thread).
 */
#ifndef SHOAL_BOT_OPTS_H
#define SHOAL_BOT_OPTS_H

#include <netinet/in.h>

#include "bot_proto.h"

enum bot_mode { BOT_M_REGISTER, BOT_M_LOGIN, BOT_M_GUEST };

struct bot_opts {
  struct sockaddr_in *login;              /* --login addresses (owned) */
  unsigned nlogin;                        /* how many */
  unsigned char server_key[BOT_KEY_LEN];  /* --server-key: the pinned SP */
  long bots, concurrency, rounds, retries, first; /* --bots --concurrency --rounds --retries --first */
  long timeout_ms, say_every;             /* --timeout-ms --say-every */
  double duration;                        /* --duration-limit, s */
  enum bot_mode mode;                     /* --register | --login-only | --guest */
  const char *prefix, *password;          /* --prefix --password */
  int json, relogin, shared;              /* --json --relogin --shared-accounts */
  int resume, events;                     /* --resume --events */
  long answer_ms, round_ms;               /* --answer-ms --round-ms */
  double play_s;                          /* --play-s (0: --rounds) */
  long stats_every_ms;                    /* --stats-every-ms: a STATS line on stderr (0: none) */
  int world;                              /* --world: WALK/WHERE rounds (docs/protocol.md 6.2) */
  double walk_speed;                      /* --walk-speed, units/s (below the space's speed cap) */
};

extern struct bot_opts bot_opt;

/* Parses the command line into bot_opt; prints the usage and exits 2 on a
 * bad one; `--public-key` prints the key and exits 0. */
void bot_opts_parse(int argc, char **argv);

#endif
