/*
 * test_bot_proto - bench/bot's client codec and cryptography (bench/bot_proto.c)
 * against docs/protocol.md.
 *
 * Known answers: X25519 (RFC 7748 section 6.1), HKDF-SHA256 (RFC 5869 test
 * case 1), the worked examples of section 7 byte for byte, and a second key
 * schedule and sealed frame computed independently with Python's
 * `cryptography` package (ec = 01..20, es = 65..84, the demo static key of
 * examples/login, N = c8..d7; LOGIN("alice", "secret123") sealed with c2s
 * at SEQ 3). Hostile bodies: every truncation and one byte too many of each
 * message refused; a sealed frame with a flipped bit, the wrong SEQ, the
 * other direction's key or too short refused.
 */
#include <stdint.h>
#include <string.h>

#include "bot_proto.h"
#include "check.h"

static void unhex(const char *h, unsigned char *out, size_t n) {
  CHECK(strlen(h) == 2 * n);
  for (size_t i = 0; i < n; i++) {
    unsigned v = 0;
    for (int j = 0; j < 2; j++) {
      char c = h[2 * i + j];
      v = v << 4 | (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    out[i] = (unsigned char)v;
  }
}

static int eqhex(const unsigned char *p, const char *h) {
  size_t n = strlen(h) / 2;
  unsigned char want[256];
  CHECK(n <= sizeof want);
  unhex(h, want, n);
  return memcmp(p, want, n) == 0;
}

static void test_x25519(void) {
  unsigned char a[32], b[32], pub[32], shared[32];
  unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", a, 32);
  unhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb", b, 32);
  CHECK(bot_x25519_public(a, pub) == 0);
  CHECK(eqhex(pub, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"));
  CHECK(bot_x25519_public(b, pub) == 0);
  CHECK(eqhex(pub, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"));
  CHECK(bot_x25519(a, pub, shared) == 0);
  CHECK(eqhex(shared, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"));
  /* A low-order point (zero) gives an all-zero secret: refused. */
  unsigned char zero[32] = {0};
  CHECK(bot_x25519(a, zero, shared) < 0);
  /* Fresh pairs differ and agree. */
  unsigned char p1[32], q1[32], p2[32], q2[32], s1[32], s2[32];
  CHECK(bot_x25519_keypair(p1, q1) == 0 && bot_x25519_keypair(p2, q2) == 0);
  CHECK(memcmp(p1, p2, 32) != 0);
  CHECK(bot_x25519(p1, q2, s1) == 0 && bot_x25519(p2, q1, s2) == 0 && memcmp(s1, s2, 32) == 0);
}

static void test_hkdf(void) {
  unsigned char ikm[22], salt[13], info[10], okm[42];
  memset(ikm, 0x0b, sizeof ikm);
  for (int i = 0; i < 13; i++) salt[i] = (unsigned char)i;
  for (int i = 0; i < 10; i++) info[i] = (unsigned char)(0xf0 + i);
  CHECK(bot_hkdf_sha256(ikm, sizeof ikm, salt, sizeof salt, info, sizeof info, okm, sizeof okm) == 0);
  CHECK(eqhex(okm, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"));
}

static void test_login_keys_and_seal(void) {
  unsigned char ec[32], EC[32], ss[32], SP[32], c2s[32], s2c[32], b2[32];
  struct bot_welcome w = {.version = 1};
  for (int i = 0; i < 32; i++) ec[i] = (unsigned char)(1 + i);
  unhex("a8abababababababababababababababababababababababababababababab6b", ss, 32);
  for (int i = 0; i < 16; i++) w.nonce[i] = (unsigned char)(200 + i);
  CHECK(bot_x25519_public(ec, EC) == 0);
  CHECK(eqhex(EC, "07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c"));
  CHECK(bot_x25519_public(ss, SP) == 0);
  CHECK(eqhex(SP, "e3712d851a0e5d79b831c5e34ab22b41a198171de209b8b8faca23a11c624859"));
  unsigned char es[32];
  for (int i = 0; i < 32; i++) es[i] = (unsigned char)(101 + i);
  CHECK(bot_x25519_public(es, w.server_eph) == 0);
  CHECK(eqhex(w.server_eph, "5714769d116bf76436ae74bc793d2c30ad1903c59ac5273805c7e2698b410c36"));
  struct bot_eph *eph = bot_eph_from(ec, b2);
  CHECK(eph && memcmp(b2, EC, 32) == 0);
  CHECK(bot_login_keys(eph, EC, SP, &w, c2s, s2c) == 0);
  bot_eph_free(eph);
  CHECK(eqhex(c2s, "435de74ad361da4c63914cdd1f51a3c9a275d0d9e421f20ab9ea9c1dd9ce7c03"));
  CHECK(eqhex(s2c, "b94fe2559d9320f4520193a8748083acdfc8ce6199da4b2bdf71e7242edb8508"));

  unsigned char msg[64], sealed[128], opened[128];
  int n = bot_enc_credentials(msg, sizeof msg, BOT_LOGIN, "alice", "secret123");
  CHECK(n == 2 + 2 + 5 + 2 + 9);
  struct bot_aead *a = bot_aead_new();
  CHECK(a);
  int s = bot_seal(a, c2s, 3, msg, (size_t)n, sealed, sizeof sealed);
  CHECK(s == n + 24);
  CHECK(eqhex(sealed, "0000000000000003b0d84b00f45da3814c2e1250b9e7eccd237485c95629fba64367f1a3d1dcaed5890db4e0"));
  CHECK(bot_open(a, c2s, 3, sealed, (size_t)s, opened) == n && memcmp(opened, msg, (size_t)n) == 0);
  CHECK(bot_open(a, c2s, 4, sealed, (size_t)s, opened) < 0); /* not the next SEQ */
  CHECK(bot_open(a, s2c, 3, sealed, (size_t)s, opened) < 0); /* the other direction's key */
  for (int i = 0; i < s; i++) {                              /* any flipped bit */
    sealed[i] ^= 0x20;
    CHECK(bot_open(a, c2s, 3, sealed, (size_t)s, opened) < 0);
    sealed[i] ^= 0x20;
  }
  for (int len = 0; len < s; len++) CHECK(bot_open(a, c2s, 3, sealed, (size_t)len, opened) < 0);
  CHECK(bot_seal(a, c2s, 0, msg, (size_t)n, sealed, (size_t)n + 23) < 0); /* does not fit */
  bot_aead_free(a);
}

/* Appends a str field. */
static size_t put_s2(unsigned char *p, const char *s, size_t n) {
  p[0] = (unsigned char)(n >> 8);
  p[1] = (unsigned char)n;
  memcpy(p + 2, s, n);
  return n + 2;
}

static void test_codec(void) {
  unsigned char b[512];
  unsigned char pub[32];
  memset(pub, 0x5a, 32);
  CHECK(bot_enc_hello(b, sizeof b, pub) == 36);
  CHECK(b[0] == 0 && b[1] == 1 && b[2] == 0 && b[3] == 1 && b[4] == 0x5a);
  CHECK(bot_enc_hello(b, 35, pub) < 0);
  CHECK(bot_enc_enter(b, sizeof b, 0x0102030405060708ull, (const unsigned char *)"tok", 3) == 17);
  CHECK(eqhex(b, "0010000101020304050607080003746f6b"));
  CHECK(bot_enc_move(b, sizeof b, -1, 1000000) == 10 && eqhex(b, "0100ffffffff000f4240"));
  CHECK(bot_enc_ping(b, sizeof b, 7) == 6 && eqhex(b, "001500000007"));
  CHECK(bot_enc_say(b, sizeof b, "hi", 2) == 6 && eqhex(b, "010200026869"));
  CHECK(bot_enc_empty(b, sizeof b, BOT_LOGOUT) == 2 && eqhex(b, "0013"));
  unsigned char dev[16];
  memset(dev, 7, 16);
  CHECK(bot_enc_guest(b, sizeof b, dev, 16, NULL, 0) == 2 + 18 + 2);

  /* LOGIN_OK with two candidates, by hand from section 2. */
  size_t n = 0;
  b[n++] = 0x00, b[n++] = 0x06, b[n++] = 0, b[n++] = 1;
  for (int i = 0; i < 7; i++) b[n++] = 0;
  b[n++] = 42; /* account */
  for (int i = 0; i < 7; i++) b[n++] = 0;
  b[n++] = 3; /* epoch */
  n += put_s2(b + n, "127.0.0.1", 9);
  b[n++] = 0x1b, b[n++] = 0x58; /* 7000 */
  n += put_s2(b + n, "TOKEN", 5);
  memset(b + n, 0xc2, 32), n += 32;
  memset(b + n, 0x52, 32), n += 32;
  b[n++] = 1;
  n += put_s2(b + n, "TICKET", 6);
  n += put_s2(b + n, "", 0);
  b[n++] = 2;
  n += put_s2(b + n, "127.0.0.1", 9);
  b[n++] = 0x1b, b[n++] = 0x58, b[n++] = 1, b[n++] = 0, b[n++] = 0, b[n++] = 0, b[n++] = 5;
  n += put_s2(b + n, "10.0.0.2", 8);
  b[n++] = 0x1b, b[n++] = 0x59, b[n++] = 0, b[n++] = 0, b[n++] = 0, b[n++] = 1, b[n++] = 0;
  struct bot_login_ok ok;
  CHECK(bot_dec_login_ok(b, n, &ok) == 0);
  CHECK(ok.version == 1 && ok.account == 42 && ok.epoch == 3 && ok.gate_port == 7000 && ok.encrypted == 1);
  CHECK(ok.gate_host.len == 9 && memcmp(ok.gate_host.p, "127.0.0.1", 9) == 0);
  CHECK(ok.token.len == 5 && ok.ticket.len == 6 && ok.credential.len == 0);
  CHECK(ok.c2s[0] == 0xc2 && ok.s2c[31] == 0x52);
  CHECK(ok.ncand == 2 && ok.cand[0].healthy == 1 && ok.cand[0].online == 5);
  CHECK(ok.cand[1].port == 7001 && ok.cand[1].healthy == 0 && ok.cand[1].online == 256);
  for (size_t len = 0; len < n; len++) CHECK(bot_dec_login_ok(b, len, &ok) < 0);
  b[n] = 0;
  CHECK(bot_dec_login_ok(b, n + 1, &ok) < 0);

  /* ERROR(BUSY, 250, 0, "busy"). */
  unsigned char e[] = {0, 7, 0, 3, 0, 0, 0, 250, 0, 0, 0, 0, 0, 4, 'b', 'u', 's', 'y', 0};
  struct bot_error er;
  CHECK(bot_dec_error(e, sizeof e - 1, &er) == 0);
  CHECK(er.code == BOT_E_BUSY && er.retry_after_ms == 250 && er.queue_position == 0 && er.text.len == 4);
  for (size_t len = 0; len < sizeof e - 1; len++) CHECK(bot_dec_error(e, len, &er) < 0);
  CHECK(bot_dec_error(e, sizeof e, &er) < 0);
  CHECK(bot_dec_welcome(e, sizeof e - 1, &(struct bot_welcome){0}) < 0); /* another id */

  /* ENTER_OK, MOVED (negative), PONG, CHAT, KICK, REDIRECT, TICKET, BYE. */
  unsigned char eo[] = {0, 0x11, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 2, 0, 3, 'b', 'o', 't',
                        0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 5, 0, 0, 0, 1};
  struct bot_enter_ok en;
  CHECK(bot_dec_enter_ok(eo, sizeof eo, &en) == 0);
  CHECK(en.account == 9 && en.epoch == 2 && en.name.len == 3 && en.x == -2 && en.y == 5 && en.logins == 1);
  for (size_t len = 0; len < sizeof eo; len++) CHECK(bot_dec_enter_ok(eo, len, &en) < 0);
  int32_t x, y;
  unsigned char mv[] = {1, 1, 0x80, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff};
  CHECK(bot_dec_moved(mv, sizeof mv, &x, &y) == 0 && x == INT32_MIN && y == INT32_MAX);
  uint32_t pn;
  unsigned char pg[] = {0, 0x16, 0, 0, 1, 0};
  CHECK(bot_dec_u32(pg, sizeof pg, BOT_PONG, &pn) == 0 && pn == 256);
  CHECK(bot_dec_u32(pg, sizeof pg, BOT_PING, &pn) < 0);
  unsigned char ch[] = {1, 3, 0, 0, 0, 0, 0, 0, 0, 9, 0, 1, 'a', 0, 2, 'h', 'i'};
  struct bot_chat c;
  CHECK(bot_dec_chat(ch, sizeof ch, &c) == 0 && c.account == 9 && c.name.len == 1 && c.text.len == 2);
  CHECK(bot_dec_chat(ch, sizeof ch - 1, &c) < 0);
  unsigned char kk[] = {0, 0x12, 0, 19, 0, 0};
  uint16_t code;
  struct bot_str t;
  CHECK(bot_dec_kick(kk, sizeof kk, &code, &t) == 0 && code == BOT_E_LOGGED_IN_ELSEWHERE && t.len == 0);
  unsigned char rd[2 + 11 + 2 + 3 + 64 + 1] = {0, 0x17, 0, 9, '1', '2', '7', '.', '0', '.', '0', '.', '1', 0x1b, 0x59, 0, 1, 'T'};
  memset(rd + 18, 0xab, 64);
  rd[82] = 1;
  struct bot_redirect re;
  CHECK(bot_dec_redirect(rd, sizeof rd, &re) == 0 && re.port == 7001 && re.token.len == 1 && re.encrypted == 1);
  CHECK(re.host.len == 9 && re.c2s[0] == 0xab && re.s2c[31] == 0xab);
  for (size_t len = 0; len < sizeof rd; len++) CHECK(bot_dec_redirect(rd, len, &re) < 0);
  unsigned char tk[] = {0, 0x18, 0, 2, 'T', 'K', 0};
  CHECK(bot_dec_bytes(tk, sizeof tk - 1, BOT_TICKET, &t) == 0 && t.len == 2 && memcmp(t.p, "TK", 2) == 0);
  for (size_t len = 0; len < sizeof tk - 1; len++) CHECK(bot_dec_bytes(tk, len, BOT_TICKET, &t) < 0);
  CHECK(bot_dec_bytes(tk, sizeof tk, BOT_TICKET, &t) < 0);
  unsigned char bye[] = {0, 0x14, 0};
  CHECK(bot_dec_empty(bye, 2, BOT_BYE) == 0 && bot_dec_empty(bye, 3, BOT_BYE) < 0);
  CHECK(bot_msg_id(bye, 1) < 0 && bot_msg_id(bye, 2) == BOT_BYE);
}

/* docs/protocol.md section 7, the worked examples, byte for byte. */
static void test_worked_examples(void) {
  unsigned char ec[32], EC[32], ss[32], SP[32], es[32], c2s[32], s2c[32], b[128], sealed[128], opened[128];
  struct bot_welcome w;
  unhex("a8abababababababababababababababababababababababababababababab6b", ss, 32);
  unhex("0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20", ec, 32);
  unhex("2122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f40", es, 32);
  CHECK(bot_x25519_public(ss, SP) == 0 && bot_x25519_public(ec, EC) == 0);
  CHECK(eqhex(SP, "e3712d851a0e5d79b831c5e34ab22b41a198171de209b8b8faca23a11c624859"));
  CHECK(eqhex(EC, "07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c"));
  /* HELLO frame: the body after the 2-byte length 0024 */
  CHECK(bot_enc_hello(b, sizeof b, EC) == 0x24);
  CHECK(eqhex(b, "0001000107a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c"));
  /* WELCOME frame: length 0034 then the body */
  unsigned char wf[0x34];
  unhex("000200015869aff450549732cbaaed5e5df9b30a6da31cb0e5742bad5ad4a1a768f1a67b4142434445464748494a4b4c4d4e4f50",
        wf, sizeof wf);
  CHECK(bot_dec_welcome(wf, sizeof wf, &w) == 0 && w.version == 1);
  CHECK(bot_x25519_public(es, b) == 0 && memcmp(b, w.server_eph, 32) == 0);
  unsigned char dh[32];
  CHECK(bot_x25519(ec, SP, dh) == 0 && eqhex(dh, "2de0bd0bbc6fffcb5a708484bf490da3a6af52452c4bf9dfd447a1ee09e76e32"));
  CHECK(bot_x25519(ec, w.server_eph, dh) == 0 &&
        eqhex(dh, "a84dc7c3c8f058b1b2dc4cd1e9b5dc0a7987f88b6a9564cde3391fc421159e77"));
  struct bot_eph *eph = bot_eph_from(ec, b);
  CHECK(eph && memcmp(b, EC, 32) == 0);
  CHECK(bot_login_keys(eph, EC, SP, &w, c2s, s2c) == 0);
  bot_eph_free(eph);
  /* A fresh ephemeral key: its public key is its own, the schedule runs. */
  unsigned char pub2[32], k1[32], k2[32];
  eph = bot_eph_new(pub2);
  CHECK(eph && memcmp(pub2, EC, 32) != 0 && bot_login_keys(eph, pub2, SP, &w, k1, k2) == 0);
  CHECK(memcmp(k1, c2s, 32) != 0);
  memset(w.server_eph, 0, 32); /* a low-order ES: refused */
  CHECK(bot_login_keys(eph, pub2, SP, &w, k1, k2) < 0);
  bot_eph_free(eph);
  CHECK(eqhex(c2s, "7a12964a6c794dc82fe0870cc4ff0bd6adb008f9da3d6943501bcca3a75f4cf3"));
  CHECK(eqhex(s2c, "10ac73f5961d50810c11ea46fd4b739ad6871d9ade41b594c28d4849ffa1dce0"));
  int n = bot_enc_credentials(b, sizeof b, BOT_LOGIN, "alice", "secret123");
  CHECK(n == 20 && eqhex(b, "00040005616c6963650009736563726574313233"));
  struct bot_aead *a = bot_aead_new();
  CHECK(bot_seal(a, c2s, 0, b, (size_t)n, sealed, sizeof sealed) == 0x2c);
  CHECK(eqhex(sealed, "0000000000000000e4988c116149970b90a85b74c3c747e55bd6cfaacdcb7d4873c418de20f8e5bb3b6336ba"));
  /* The server's sealed ERROR(WRONG_PASSWORD): opened with s2c at SEQ 0. */
  unsigned char ef[0x34];
  unhex("0000000000000000465797b69a5353e5ea2ec95ab19c99e0609e38b0fbd007cd4361d30d59bb99ff279e7c5d2d71acf51bddd024",
        ef, sizeof ef);
  n = bot_open(a, s2c, 0, ef, sizeof ef, opened);
  CHECK(n == 28 && eqhex(opened, "000700090000000000000000000e77726f6e672070617373776f7264"));
  struct bot_error er;
  CHECK(bot_dec_error(opened, (size_t)n, &er) == 0 && er.code == 9 && er.retry_after_ms == 0 && er.text.len == 14);
  /* PING(7) sealed with a game key. */
  unsigned char gk[32];
  memset(gk, 0x11, 32);
  n = bot_enc_ping(b, sizeof b, 7);
  CHECK(bot_seal(a, gk, 0, b, (size_t)n, sealed, sizeof sealed) == 0x1e);
  CHECK(eqhex(sealed, "0000000000000000a5a99796799ea0de79b6eff352a26b937a7e00bf27f4"));
  bot_aead_free(a);
}

/* Section 6.1's worked example: R, the proof, RESUME, the resumed keys; GATES. */
static void test_resume(void) {
  unsigned char c2s[32], s2c[32], r[32], nonce[16], proof[32], rc2s[32], rs2c[32], ticket[16], b[200];
  memset(c2s, 0x11, 32);
  memset(s2c, 0x22, 32);
  memset(ticket, 0xaa, 16);
  unhex("5152535455565758595a5b5c5d5e5f60", nonce, 16);
  CHECK(bot_resume_secret(c2s, s2c, r) == 0);
  CHECK(eqhex(r, "0471bbed06644938fa6ccfdb5b84d4d1ff726962e673b649a8de7fa2ea5da8f2"));
  CHECK(bot_resume_proof(r, 42, nonce, proof) == 0);
  CHECK(eqhex(proof, "e3347c53e7589f90fcfd47b214395d0b793875a7e19f65b26c699f8582377183"));
  int n = bot_enc_resume(b, sizeof b, 42, ticket, 16, nonce, proof);
  CHECK(n == 0x4e);
  CHECK(eqhex(b, "00190001000000000000002a0010aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa5152535455565758595a5b5c5d5e5f60"
                 "e3347c53e7589f90fcfd47b214395d0b793875a7e19f65b26c699f8582377183"));
  CHECK(bot_enc_resume(b, 0x4d, 42, ticket, 16, nonce, proof) == -1);
  CHECK(bot_resume_keys(r, nonce, rc2s, rs2c) == 0);
  CHECK(eqhex(rc2s, "4be41e66e2f0f82ee525bfeeaabbb831e87b3042380021ab9673a8c9d0aaae3a"));
  CHECK(eqhex(rs2c, "617d65cde7339cd92a3a47a4b19ee7f0590b6ee6811e27569e3dd09dcb3b089c"));
  /* GATES: 001a | 01 | str "127.0.0.1" | port 7001 | healthy 1 | online 5; every cut refused. */
  unsigned char g[64];
  size_t gl = 0;
  unhex("001a0100093132372e302e302e311b5901" "00000005", g, 21);
  gl = 21;
  struct bot_candidate c[BOT_MAX_CANDIDATES];
  unsigned nc = 0;
  CHECK(bot_dec_gates(g, gl, c, &nc) == 0 && nc == 1 && c[0].port == 7001 && c[0].online == 5 && c[0].host.len == 9);
  for (size_t cut = 0; cut < gl; cut++) CHECK(bot_dec_gates(g, cut, c, &nc) == -1);
  g[gl] = 0;
  CHECK(bot_dec_gates(g, gl + 1, c, &nc) == -1);
}

/* The worked examples of docs/protocol.md section 6.2 (frame bodies: the
 * page's frames without their 2-byte length), every decoder against every
 * cut and a trailing byte. */
static void test_world(void) {
  unsigned char b[128];
  CHECK(bot_enc_walk(b, sizeof b, 12.5f, 40.0f, 1.5f) == 14 && eqhex(b, "010441480000422000003fc00000"));
  CHECK(bot_enc_walk(b, 13, 12.5f, 40.0f, 1.5f) == -1);
  CHECK(bot_enc_set_prop(b, sizeof b, 1, "gold", "42") == 13 && eqhex(b, "0108010004676f6c6400023432"));
  CHECK(bot_enc_empty(b, sizeof b, BOT_WHERE) == 2 && eqhex(b, "010a"));
  static const char *const hex[] = {
      "01050005776f726c64447a0000447a00004248000043fa000043fa000000000000", /* WORLD */
      "010600110100000000000000074148000042200000",                         /* AOI */
      "01070000000000000007010004676f6c6400023432",                         /* PROP */
      "01090343fa000043fa00000008746f6f2066617374",                         /* REFUSED */
      "010b000000050000000541480000422000003fc00000",                       /* HERE */
  };
  for (int k = 0; k < 5; k++) {
    size_t n = strlen(hex[k]) / 2;
    unhex(hex[k], b, n);
    struct bot_world w;
    struct bot_str rec;
    struct bot_prop p;
    struct bot_refused r;
    struct bot_here h;
    for (size_t cut = 0; cut <= n + 1; cut++) {
      if (cut == n + 1) b[n] = 0; /* a trailing byte */
      int ok = k == 0   ? bot_dec_world(b, cut, &w)
               : k == 1 ? bot_dec_aoi(b, cut, &rec)
               : k == 2 ? bot_dec_prop(b, cut, &p)
               : k == 3 ? bot_dec_refused(b, cut, &r)
                        : bot_dec_here(b, cut, &h);
      CHECK(ok == (cut == n ? 0 : -1));
    }
  }
  struct bot_world w;
  unhex(hex[0], b, 33);
  CHECK(bot_dec_world(b, 33, &w) == 0 && w.space.len == 5 && memcmp(w.space.p, "world", 5) == 0 && w.width == 1000.0f &&
        w.height == 1000.0f && w.radius == 50.0f && w.x == 500.0f && w.y == 500.0f && w.dir == 0.0f);
  struct bot_str rec;
  unhex(hex[1], b, 21);
  CHECK(bot_dec_aoi(b, 21, &rec) == 0 && rec.len == BOT_AOI_RECORD && rec.p[0] == 1 && rec.p[8] == 7);
  b[4] = 4; /* kind 4 does not exist */
  CHECK(bot_dec_aoi(b, 21, &rec) == -1);
  struct bot_prop p;
  unhex(hex[2], b, 21);
  CHECK(bot_dec_prop(b, 21, &p) == 0 && p.account == 7 && p.own == 1 && p.key.len == 4 && p.value.len == 2);
  struct bot_refused r;
  unhex(hex[3], b, 21);
  CHECK(bot_dec_refused(b, 21, &r) == 0 && r.reason == 3 && r.x == 500.0f && r.y == 500.0f && r.text.len == 8);
  struct bot_here h;
  unhex(hex[4], b, 22);
  CHECK(bot_dec_here(b, 22, &h) == 0 && h.seq == 5 && h.applied == 5 && h.x == 12.5f && h.y == 40.0f && h.dir == 1.5f);
}

int main(void) {
  test_world();
  test_resume();
  test_x25519();
  test_hkdf();
  test_login_keys_and_seal();
  test_codec();
  test_worked_examples();
  return 0;
}
