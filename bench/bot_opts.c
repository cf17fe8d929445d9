/*
 * bot_opts - bench/bot's command line (docs/bot.md, "Command line"): the
 * options, set once by bot_opts_parse before the run.
 */
#include "bot_opts.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot_proto.h"

struct bot_opts bot_opt = {
    .bots = 1, .concurrency = 100, .rounds = 1, .retries = 20, .timeout_ms = 10000, .say_every = 1,
    .duration = 300, .mode = BOT_M_LOGIN, .prefix = "bot", .password = "botpassword", .answer_ms = 1500, .walk_speed = 40,
};

static int parse_hex(const char *h, unsigned char *out, size_t n) {
  if (strlen(h) != 2 * n) return -1;
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    if (sscanf(h + 2 * i, "%2x", &v) != 1) return -1;
    out[i] = (unsigned char)v;
  }
  return 0;
}

static int parse_logins(const char *s) {
  char *copy = strdup(s), *save = NULL;
  bot_opt.nlogin = 0;
  for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    char *colon = strrchr(tok, ':');
    if (!colon) goto bad;
    *colon = 0;
    bot_opt.login = realloc(bot_opt.login, (bot_opt.nlogin + 1) * sizeof *bot_opt.login);
    struct sockaddr_in *a = &bot_opt.login[bot_opt.nlogin++];
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    long port = strtol(colon + 1, NULL, 10);
    if (port <= 0 || port > 65535 || inet_pton(AF_INET, tok, &a->sin_addr) != 1) goto bad;
    a->sin_port = htons((uint16_t)port);
  }
  free(copy);
  return bot_opt.nlogin > 0 ? 0 : -1;
bad:
  free(copy);
  return -1;
}

static void usage(void) {
  fprintf(stderr, "usage: bot --login HOST:PORT[,HOST:PORT...] --server-key HEX [--bots N] [--concurrency C]\n"
                  "           [--rounds R] [--register|--login-only|--guest] [--prefix NAME] [--first I]\n"
                  "           [--password P] [--retries K] [--timeout-ms MS] [--duration-limit S] [--relogin]\n"
                  "           [--say-every K] [--shared-accounts] [--json] [--resume] [--answer-ms MS]\n"
                  "           [--play-s S] [--round-ms MS] [--events] [--world] [--walk-speed U]\n"
                  "           [--stats-every-ms MS]\n"
                  "       bot --public-key PRIVATE_HEX\n");
  exit(2);
}

void bot_opts_parse(int argc, char **argv) {
  static const struct option longs[] = {
      {"login", required_argument, 0, 'l'},       {"server-key", required_argument, 0, 'k'},
      {"bots", required_argument, 0, 'n'},        {"concurrency", required_argument, 0, 'c'},
      {"rounds", required_argument, 0, 'r'},      {"register", no_argument, 0, 'R'},
      {"login-only", no_argument, 0, 'L'},        {"guest", no_argument, 0, 'G'},
      {"prefix", required_argument, 0, 'p'},      {"first", required_argument, 0, 'f'},
      {"password", required_argument, 0, 'P'},    {"retries", required_argument, 0, 'y'},
      {"timeout-ms", required_argument, 0, 't'},  {"duration-limit", required_argument, 0, 'd'},
      {"relogin", no_argument, 0, 'K'},           {"json", no_argument, 0, 'j'},
      {"public-key", required_argument, 0, 'X'},  {"say-every", required_argument, 0, 'S'},
      {"shared-accounts", no_argument, 0, 'A'},   {"resume", no_argument, 0, 'Z'},
      {"answer-ms", required_argument, 0, 'W'},   {"play-s", required_argument, 0, 'T'},
      {"round-ms", required_argument, 0, 'M'},    {"events", no_argument, 0, 'E'},
      {"world", no_argument, 0, 'w'},           {"walk-speed", required_argument, 0, 'V'},
      {"stats-every-ms", required_argument, 0, 's'},
      {0, 0, 0, 0}};
  int have_key = 0, o;
  while ((o = getopt_long(argc, argv, "", longs, NULL)) != -1) {
    switch (o) {
    case 'l': if (parse_logins(optarg) < 0) usage(); break;
    case 'k': if (parse_hex(optarg, bot_opt.server_key, BOT_KEY_LEN) < 0) usage(); have_key = 1; break;
    case 'n': bot_opt.bots = atol(optarg); break;
    case 'c': bot_opt.concurrency = atol(optarg); break;
    case 'r': bot_opt.rounds = atol(optarg); break;
    case 'R': bot_opt.mode = BOT_M_REGISTER; break;
    case 'L': bot_opt.mode = BOT_M_LOGIN; break;
    case 'G': bot_opt.mode = BOT_M_GUEST; break;
    case 'p': bot_opt.prefix = optarg; break;
    case 'f': bot_opt.first = atol(optarg); break;
    case 'P': bot_opt.password = optarg; break;
    case 'y': bot_opt.retries = atol(optarg); break;
    case 't': bot_opt.timeout_ms = atol(optarg); break;
    case 'd': bot_opt.duration = atof(optarg); break;
    case 'K': bot_opt.relogin = 1; break;
    case 'j': bot_opt.json = 1; break;
    case 'S': bot_opt.say_every = atol(optarg); break;
    case 'A': bot_opt.shared = 1; break;
    case 'Z': bot_opt.resume = 1; break;
    case 'W': bot_opt.answer_ms = atol(optarg); break;
    case 'T': bot_opt.play_s = atof(optarg); break;
    case 'M': bot_opt.round_ms = atol(optarg); break;
    case 'E': bot_opt.events = 1; break;
    case 'w': bot_opt.world = 1; break;
    case 's': bot_opt.stats_every_ms = atol(optarg); break;
    case 'V': bot_opt.walk_speed = atof(optarg); break;
    case 'X': {
      unsigned char priv[BOT_KEY_LEN], pub[BOT_KEY_LEN];
      if (parse_hex(optarg, priv, BOT_KEY_LEN) < 0 || bot_x25519_public(priv, pub) < 0) usage();
      for (int i = 0; i < BOT_KEY_LEN; i++) printf("%02x", pub[i]);
      printf("\n");
      exit(0);
    }
    default: usage();
    }
  }
  if (!bot_opt.nlogin || !have_key || bot_opt.bots < 1 || bot_opt.concurrency < 1 || bot_opt.rounds < 0 || bot_opt.retries < 0 ||
      bot_opt.timeout_ms < 1 || bot_opt.say_every < 0 || bot_opt.duration <= 0 || bot_opt.answer_ms < 1 || bot_opt.round_ms < 0 ||
      bot_opt.play_s < 0 || bot_opt.stats_every_ms < 0 || !(bot_opt.walk_speed > 0 && bot_opt.walk_speed < 1e6) || bot_opt.first < 0 || strlen(bot_opt.prefix) + 20 > 32)
    usage();
}

