/*
 * bot_resume.h - bench/bot's side of a lost session coming back (docs/bot.md
 * "How it follows the server"; docs/protocol.md 6.1): the candidate gates
 * it keeps, the loss, the RESUME at the next gate (or a password login),
 * the return, and the check of the state the server restored against what
 * the bot had seen acknowledged (the RPO seen from the client: bot_ring.h).
 * Split from bot.c (the session's state machine), which calls it at the
 * points below and is called back through bot.h.
 */
#ifndef SHOAL_BOT_RESUME_H
#define SHOAL_BOT_RESUME_H

#include <stddef.h>

#include "bot.h"
#include "bot_proto.h"

/* The candidate gates (LOGIN_OK's, then each GATES) as addresses: where a
 * RESUME goes. Hosts that are not IPv4 literals are skipped. */
void bot_resume_keep_gates(struct bot *b, const struct bot_candidate *c, unsigned n);
/* The session was lost without a KICK (a close, or no answer): with
 * --resume, a RESUME at the next gate; else (or while not playing) the bot
 * fails with why. */
void bot_resume_lost(struct bot *b, const char *why);
/* The gate being tried cannot take the RESUME (refused the connection,
 * closed, UNAVAILABLE; why, logged as `EVENT resume_failed`, NULL for the
 * first try): the next candidate, or a password login. */
void bot_resume_next_gate(struct bot *b, const char *why);
/* Encodes the RESUME for the connection just made (a fresh nonce; the
 * resumed keys replace the game keys). The encoder's length, or -1. */
int bot_resume_enc(struct bot *b, unsigned char *msg, size_t cap);
/* A clear ERROR answered the RESUME: UNAVAILABLE tries the next gate, any
 * other refusal logs in with the password (section 6.1). */
void bot_resume_refused(struct bot *b, const struct bot_error *e);
/* ENTER_OK answered the RESUME: checked (account, later epoch), counted,
 * timed; the restored position checked (login mode; with --world the first
 * WORLD is); then play goes on. */
void bot_resume_entered(struct bot *b, const struct bot_enter_ok *m);
/* Playing again after a loss (how: "resumed", "relogged"): a back_ms
 * sample and, with --events, an EVENT back line. Nothing when not lost. */
void bot_resume_back(struct bot *b, const char *how);
/* The server gave back (x, y) after a loss the bot noticed at
 * loss_wall_ms: looked up in the bot's acknowledged positions, counted
 * (restored, restored_unknown, restored_lost_ms) and with --events an EVENT
 * restored line. The caller then acknowledges (x, y) in the ring. */
void bot_resume_restored(struct bot *b, double x, double y, double loss_wall_ms);

#endif
