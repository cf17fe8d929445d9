/*
 * bot_stats - counters, percentiles and the report of bench/bot.
 */
#include "bot_stats.h"

#include <stdlib.h>
#include <string.h>

void bot_samples_add(struct bot_samples *s, uint64_t ns) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 4096;
    uint32_t *v = realloc(s->v, cap * sizeof *v);
    if (!v) return; /* a sample lost is better than a bot run lost */
    s->v = v;
    s->cap = cap;
  }
  uint64_t us = ns / 1000;
  s->v[s->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
  s->sorted = 0;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

double bot_samples_pct(struct bot_samples *s, double p) {
  if (s->n == 0) return 0;
  if (!s->sorted) {
    qsort(s->v, s->n, sizeof *s->v, cmp_u32);
    s->sorted = 1;
  }
  /* nearest rank: the smallest sample with at least p% at or below it */
  size_t rank = (size_t)(p / 100.0 * (double)s->n + 0.999999);
  if (rank < 1) rank = 1;
  if (rank > s->n) rank = s->n;
  return s->v[rank - 1] / 1000.0;
}

static const char *const code_names[] = {
    NULL,           "MALFORMED",       "BAD_VERSION",    "BUSY",           "RATE",
    "BAD_NAME",     "BAD_PASSWORD",    "NAME_TAKEN",     "UNKNOWN_ACCOUNT", "WRONG_PASSWORD",
    "BAD_CREDENTIAL", "LOGIN_RACE",    "NO_BASEAPP",     "UNAVAILABLE",    "TOKEN_INVALID",
    "TOKEN_EXPIRED", "TOKEN_USED",     "TOKEN_FOREIGN",  "NOT_ENTERED",    "LOGGED_IN_ELSEWHERE",
    "TIMEOUT",      "UNKNOWN_MESSAGE", "BAD_MOVE",       "BAD_TEXT",       "SHUTDOWN",
    "DECRYPT",
};

const char *bot_code_name(unsigned code) {
  return code < sizeof code_names / sizeof code_names[0] ? code_names[code] : NULL;
}

const char *bot_stage_name(enum bot_stage st) {
  static const char *const names[BOT_ST_COUNT] = {"login_connect", "welcome", "login_reply", "gate_connect",
                                                  "enter",         "play",    "logout"};
  return st < BOT_ST_COUNT ? names[st] : "?";
}

double bot_stats_logins_per_s(const struct bot_stats *s) {
  if (s->entered == 0 || s->t_last_enter <= s->t_first_start) return 0;
  return (double)s->entered * 1e9 / (double)(s->t_last_enter - s->t_first_start);
}

/* Prints " NAME(code)=count" for each non-zero code. */
static void print_codes(FILE *f, const long *counts) {
  for (unsigned c = 0; c < BOT_CODES; c++) {
    if (!counts[c]) continue;
    const char *name = bot_code_name(c);
    fprintf(f, " %s(%u)=%ld", name ? name : "code", c, counts[c]);
  }
}

/* "key": {"NAME": count, ...} (a code without a name by its number). */
static void print_json_codes(FILE *f, const char *key, const long *counts) {
  fprintf(f, "  \"%s\": {", key);
  int first = 1;
  for (unsigned c = 0; c < BOT_CODES; c++) {
    if (!counts[c]) continue;
    const char *name = bot_code_name(c);
    if (name)
      fprintf(f, "%s\"%s\": %ld", first ? "" : ", ", name, counts[c]);
    else
      fprintf(f, "%s\"%u\": %ld", first ? "" : ", ", c, counts[c]);
    first = 0;
  }
  fprintf(f, "},\n");
}

static void print_json_lat(FILE *f, const char *key, struct bot_samples *s, int last) {
  fprintf(f, "  \"%s\": {\"n\": %zu, \"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, \"max\": %.3f}%s\n", key, s->n,
          bot_samples_pct(s, 50), bot_samples_pct(s, 90), bot_samples_pct(s, 99), bot_samples_pct(s, 100),
          last ? "" : ",");
}

void bot_stats_report(struct bot_stats *s, FILE *f, int json) {
  double elapsed = s->t_end > s->t_begin ? (double)(s->t_end - s->t_begin) / 1e9 : 0;
  if (!json) {
    fprintf(f, "bot: bots=%ld logins_ok=%ld entered=%ld completed=%ld failed=%ld kicked=%ld superseded=%ld\n",
            s->bots, s->logins_ok, s->entered, s->completed, s->failed, s->kicked, s->superseded);
    fprintf(f, "bot: retries=%ld fallbacks=%ld kicks=%ld redirects=%ld tickets=%ld rounds=%ld chats_other=%ld "
            "elapsed_s=%.3f\n", s->retries, s->fallbacks, s->kicks, s->redirects, s->tickets, s->rounds, s->chats_other,
            elapsed);
    fprintf(f, "bot: errors:");
    print_codes(f, s->errors);
    fprintf(f, "\nbot: kicks:");
    print_codes(f, s->kick_codes);
    fprintf(f, "\nbot: failures:");
    for (int i = 0; i < BOT_ST_COUNT; i++)
      if (s->fail_stage[i])
        fprintf(f, " %s=%ld(timeouts %ld)", bot_stage_name((enum bot_stage)i), s->fail_stage[i], s->fail_timeout[i]);
    fprintf(f, "\nbot: login_ms p50=%.2f p90=%.2f p99=%.2f max=%.2f (n=%zu)\n", bot_samples_pct(&s->login, 50),
            bot_samples_pct(&s->login, 90), bot_samples_pct(&s->login, 99), bot_samples_pct(&s->login, 100),
            s->login.n);
    fprintf(f, "bot: login_total_ms p50=%.2f p99=%.2f max=%.2f\n", bot_samples_pct(&s->login_total, 50),
            bot_samples_pct(&s->login_total, 99), bot_samples_pct(&s->login_total, 100));
    fprintf(f, "bot: rtt_ms p50=%.2f p99=%.2f max=%.2f (n=%zu)\n", bot_samples_pct(&s->rtt, 50),
            bot_samples_pct(&s->rtt, 99), bot_samples_pct(&s->rtt, 100), s->rtt.n);
    fprintf(f, "bot: logins_per_s=%.1f\n", bot_stats_logins_per_s(s));
    /* The line the failover tests parse (docs/bot.md). */
    fprintf(f, "bot: resume lost=%ld back=%ld resumed=%ld relogged=%ld stranded=%ld max_ms=%.1f p50_ms=%.1f\n",
            s->lost, s->resumed + s->relogged, s->resumed, s->relogged, s->lost - s->resumed - s->relogged,
            bot_samples_pct(&s->back, 100), bot_samples_pct(&s->back, 50));
    fprintf(f, "bot: restored=%ld restored_unknown=%ld restored_lost_ms=%.0f\n", s->restored, s->restored_unknown,
            s->restored_lost_ms);
    if (s->walks) {
      long refused = 0;
      fprintf(f, "bot: world refused by reason:");
      for (int i = 0; i < BOT_REFUSED_REASONS; i++) {
        refused += s->refused[i];
        if (s->refused[i]) fprintf(f, " %d=%ld", i, s->refused[i]);
      }
      fprintf(f, "\nbot: world walks=%ld aoi=%ld refused=%ld worlds=%ld world_back_max_ms=%.1f world_back_p50_ms=%.1f props=%ld\n",
              s->walks, s->aoi_records, refused, s->worlds, bot_samples_pct(&s->world_back, 100),
              bot_samples_pct(&s->world_back, 50), s->props);
    }
    return;
  }
  fprintf(f, "{\n  \"bots\": %ld, \"logins_ok\": %ld, \"entered\": %ld, \"completed\": %ld, \"failed\": %ld,\n",
          s->bots, s->logins_ok, s->entered, s->completed, s->failed);
  fprintf(f, "  \"kicked\": %ld, \"kicks\": %ld, \"redirects\": %ld, \"retries\": %ld, \"fallbacks\": %ld,\n",
          s->kicked, s->kicks, s->redirects, s->retries, s->fallbacks);
  fprintf(f, "  \"rounds\": %ld, \"superseded\": %ld, \"tickets\": %ld,", s->rounds, s->superseded, s->tickets);
  fprintf(f, "  \"chats_other\": %ld, \"elapsed_s\": %.3f, \"logins_per_s\": %.1f,\n", s->chats_other, elapsed,
          bot_stats_logins_per_s(s));
  print_json_codes(f, "errors", s->errors);
  print_json_codes(f, "kick_codes", s->kick_codes);
  fprintf(f, "  \"failures\": {");
  int first = 1;
  for (int i = 0; i < BOT_ST_COUNT; i++) {
    if (!s->fail_stage[i]) continue;
    fprintf(f, "%s\"%s\": {\"n\": %ld, \"timeouts\": %ld}", first ? "" : ", ", bot_stage_name((enum bot_stage)i),
            s->fail_stage[i], s->fail_timeout[i]);
    first = 0;
  }
  fprintf(f, "},\n");
  print_json_lat(f, "login_ms", &s->login, 0);
  print_json_lat(f, "login_total_ms", &s->login_total, 0);
  fprintf(f, "  \"lost\": %ld, \"resumed\": %ld, \"relogged\": %ld, \"stranded\": %ld,\n", s->lost, s->resumed,
          s->relogged, s->lost - s->resumed - s->relogged);
  print_json_lat(f, "back_ms", &s->back, 0);
  fprintf(f, "  \"restored\": %ld, \"restored_unknown\": %ld, \"restored_lost_ms\": %.0f,\n", s->restored,
          s->restored_unknown, s->restored_lost_ms);
  fprintf(f, "  \"walks\": %ld, \"aoi_records\": %ld, \"props\": %ld, \"worlds\": %ld, \"refused\": {", s->walks,
          s->aoi_records, s->props, s->worlds);
  for (int i = 0, sep = 0; i < BOT_REFUSED_REASONS; i++)
    if (s->refused[i]) {
      fprintf(f, "%s\"%d\": %ld", sep ? ", " : "", i, s->refused[i]);
      sep = 1;
    }
  fprintf(f, "},\n");
  print_json_lat(f, "world_back_ms", &s->world_back, 0);
  print_json_lat(f, "rtt_ms", &s->rtt, 1);
  fprintf(f, "}\n");
}

void bot_stats_free(struct bot_stats *s) {
  free(s->login.v);
  free(s->login_total.v);
  free(s->rtt.v);
  free(s->back.v);
  free(s->world_back.v);
  memset(&s->world_back, 0, sizeof s->world_back);
  memset(&s->back, 0, sizeof s->back);
  memset(&s->login, 0, sizeof s->login);
  memset(&s->login_total, 0, sizeof s->login_total);
  memset(&s->rtt, 0, sizeof s->rtt);
}
