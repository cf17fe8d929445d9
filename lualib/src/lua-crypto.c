/*
 * lua-crypto.c - shoal.crypto: the Lua face of crypto_prim.c (hashes,
 * HMAC, HKDF, X25519, random bytes, hex/base64), crypto_aead.c (sealer
 * and opener objects) and crypto_kdf.c + crypto_pool.c (password hashing
 * on helper threads). See docs/crypto.md.
 *
 * hash_password / verify_password suspend only the calling coroutine: the
 * job goes to the pool with a session from shoal_timeout (so the session's
 * own timer is the job's timeout, config call_timeout); the helper answers
 * that session with a RESPONSE (or an ERROR with a code), and whichever of
 * the two arrives first resumes the coroutine; the scheduler drops the
 * other as a late response. A service going away cancels its queued jobs
 * (the client userdata's __gc, run by lua_close).
 *
 * Failures a caller should act on return nil/false, code, text (codes in
 * shoal.errors, or crypto.MALFORMED... for frames); bad argument types and
 * sizes a program could never mean raise.
 */
#include <lauxlib.h>
#include <lua.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "crypto_aead.h"
#include "crypto_kdf.h"
#include "crypto_pool.h"
#include "crypto_prim.h"
#include "lua-sched-int.h"
#include "lua-shoal.h"

#define RANDOM_MAX (1 << 20) /* bytes one random() call may ask for */
#define AEAD_MT "shoal.crypto.aead"
#define KEY_MT "shoal.crypto.x25519_key"
#define CLIENT_MT "shoal.crypto.client"

static int fail(lua_State *L, int nilorfalse, int code, const char *text) {
  if (nilorfalse) lua_pushboolean(L, 0);
  else lua_pushnil(L);
  lua_pushinteger(L, code);
  lua_pushstring(L, text);
  return 3;
}

static const unsigned char *check_len(lua_State *L, int idx, size_t want, const char *what) {
  size_t n;
  const char *s = luaL_checklstring(L, idx, &n);
  if (n != want) luaL_error(L, "%s must be %d bytes, got %d", what, (int)want, (int)n);
  return (const unsigned char *)s;
}

/* ---- one-shot primitives ---- */

/* random(n) -> n bytes; raises if the generator fails (never weak bytes) */
static int lrandom(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  luaL_argcheck(L, n >= 0 && n <= RANDOM_MAX, 1, "random: 0..1048576 bytes");
  luaL_Buffer b;
  unsigned char *p = (unsigned char *)luaL_buffinitsize(L, &b, (size_t)n);
  if (shoal_crypto_random(p, (size_t)n) != 0) return luaL_error(L, "random: the system's generator failed");
  luaL_pushresultsize(&b, (size_t)n);
  return 1;
}

/* equal(a, b) -> bool, in time that depends only on the lengths */
static int lequal(lua_State *L) {
  size_t na, nb;
  const char *a = luaL_checklstring(L, 1, &na), *b = luaL_checklstring(L, 2, &nb);
  lua_pushboolean(L, na == nb && CRYPTO_memcmp(a, b, na) == 0);
  return 1;
}

/* sha256(data) -> 32 bytes */
static int lsha256(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  unsigned char out[SHOAL_CRYPTO_SHA256_LEN];
  shoal_crypto_sha256(s, n, out);
  lua_pushlstring(L, (const char *)out, sizeof(out));
  return 1;
}

/* hmac_sha256(key, data) -> 32 bytes */
static int lhmac_sha256(lua_State *L) {
  size_t kn, n;
  const char *k = luaL_checklstring(L, 1, &kn), *s = luaL_checklstring(L, 2, &n);
  unsigned char out[SHOAL_CRYPTO_SHA256_LEN];
  shoal_crypto_hmac_sha256(k, kn, s, n, out);
  lua_pushlstring(L, (const char *)out, sizeof(out));
  return 1;
}

/* hkdf_sha256(ikm, salt, info, len) -> len bytes (1..8160; info <= 1024) */
static int lhkdf(lua_State *L) {
  size_t in, sn, fn;
  const char *ikm = luaL_checklstring(L, 1, &in), *salt = luaL_optlstring(L, 2, "", &sn);
  const char *info = luaL_optlstring(L, 3, "", &fn);
  lua_Integer len = luaL_checkinteger(L, 4);
  luaL_argcheck(L, len >= 1 && len <= SHOAL_CRYPTO_HKDF_MAX, 4, "hkdf_sha256: length 1..8160");
  luaL_argcheck(L, fn <= SHOAL_CRYPTO_HKDF_INFO_MAX, 3, "hkdf_sha256: info at most 1024 bytes");
  luaL_Buffer b;
  unsigned char *p = (unsigned char *)luaL_buffinitsize(L, &b, (size_t)len);
  if (shoal_crypto_hkdf_sha256(ikm, in, salt, sn, info, fn, p, (size_t)len) != 0)
    return luaL_error(L, "hkdf_sha256 failed");
  luaL_pushresultsize(&b, (size_t)len);
  return 1;
}

/* x25519_keypair() -> private, public (32 bytes each) */
static int lx25519_keypair(lua_State *L) {
  unsigned char priv[32], pub[32];
  if (shoal_crypto_x25519_keypair(priv, pub) != 0) return luaL_error(L, "x25519_keypair: the generator failed");
  lua_pushlstring(L, (const char *)priv, 32);
  lua_pushlstring(L, (const char *)pub, 32);
  OPENSSL_cleanse(priv, sizeof(priv));
  return 2;
}

/* x25519_public(private) -> public */
static int lx25519_public(lua_State *L) {
  unsigned char pub[32];
  if (shoal_crypto_x25519_public(check_len(L, 1, 32, "x25519_public: private key"), pub) != 0)
    return luaL_error(L, "x25519_public failed");
  lua_pushlstring(L, (const char *)pub, 32);
  return 1;
}

/* x25519(private, peer_public) -> shared | nil, INVAL, text: the peer's key
 * comes from the network, so a bad one is an answer, not a raise. */
static int lx25519(lua_State *L) {
  const unsigned char *priv = check_len(L, 1, 32, "x25519: private key");
  size_t n;
  const char *peer = luaL_checklstring(L, 2, &n);
  if (n != 32) return fail(L, 0, SHOAL_EINVAL, "x25519: the peer's public key must be 32 bytes");
  unsigned char shared[32];
  if (shoal_crypto_x25519(priv, (const unsigned char *)peer, shared) != 0)
    return fail(L, 0, SHOAL_EINVAL, "x25519: the peer's public key is a small-order point");
  lua_pushlstring(L, (const char *)shared, 32);
  OPENSSL_cleanse(shared, sizeof(shared));
  return 1;
}

/* ---- reusable X25519 keys ---- */

struct lua_key {
  struct shoal_crypto_x25519_key *k; /* NULL once closed */
};

static struct shoal_crypto_x25519_key *check_key(lua_State *L) {
  struct lua_key *u = luaL_checkudata(L, 1, KEY_MT);
  if (u->k == NULL) luaL_error(L, "crypto: this x25519 key is closed");
  return u->k;
}

/* x25519_key([private]) -> key: a loaded private key (a fresh one without
 * the argument), for key:public() and key:exchange(peer) without reloading
 * the raw bytes (and recomputing the public key) at each use. */
static int lx25519_key(lua_State *L) {
  const unsigned char *priv = lua_isnoneornil(L, 1) ? NULL : check_len(L, 1, 32, "x25519_key: private key");
  struct lua_key *u = lua_newuserdatauv(L, sizeof(*u), 0);
  u->k = NULL;
  luaL_setmetatable(L, KEY_MT);
  u->k = shoal_crypto_x25519_key_new(priv);
  if (u->k == NULL) return luaL_error(L, "x25519_key: %s", priv ? "cannot load the key" : "the generator failed");
  return 1;
}

/* key:public() -> 32 bytes */
static int lkey_public(lua_State *L) {
  lua_pushlstring(L, (const char *)shoal_crypto_x25519_key_public(check_key(L)), 32);
  return 1;
}

/* key:exchange(peer_public) -> shared | nil, INVAL, text (as x25519()) */
static int lkey_exchange(lua_State *L) {
  struct shoal_crypto_x25519_key *k = check_key(L);
  size_t n;
  const char *peer = luaL_checklstring(L, 2, &n);
  if (n != 32) return fail(L, 0, SHOAL_EINVAL, "x25519: the peer's public key must be 32 bytes");
  unsigned char shared[32];
  if (shoal_crypto_x25519_key_exchange(k, (const unsigned char *)peer, shared) != 0)
    return fail(L, 0, SHOAL_EINVAL, "x25519: the peer's public key is a small-order point");
  lua_pushlstring(L, (const char *)shared, 32);
  OPENSSL_cleanse(shared, sizeof(shared));
  return 1;
}

/* key:close() (also __gc, __close): frees the key (OpenSSL wipes it) */
static int lkey_close(lua_State *L) {
  struct lua_key *u = luaL_checkudata(L, 1, KEY_MT);
  shoal_crypto_x25519_key_free(u->k);
  u->k = NULL;
  return 0;
}

/* session_keys(shared, salt) -> client_to_server, server_to_client (32
 * bytes each): HKDF-SHA256 of the X25519 secret, salted with the login's
 * transcript (e.g. both public keys and a server nonce). */
static int lsession_keys(lua_State *L) {
  size_t in, sn;
  const char *ikm = luaL_checklstring(L, 1, &in), *salt = luaL_optlstring(L, 2, "", &sn);
  static const char info[] = "shoal session keys v1";
  unsigned char out[64];
  if (shoal_crypto_hkdf_sha256(ikm, in, salt, sn, info, sizeof(info) - 1, out, sizeof(out)) != 0)
    return luaL_error(L, "session_keys failed");
  lua_pushlstring(L, (const char *)out, 32);
  lua_pushlstring(L, (const char *)out + 32, 32);
  OPENSSL_cleanse(out, sizeof(out));
  return 2;
}

/* tohex(s), tobase64(s) -> text; fromhex(t), frombase64(t) -> bytes | nil, INVAL, text */
static int ltohex(lua_State *L) {
  size_t n;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
  luaL_Buffer b;
  char *p = luaL_buffinitsize(L, &b, 2 * n + 1);
  shoal_crypto_hex_encode(s, n, p);
  luaL_pushresultsize(&b, 2 * n);
  return 1;
}

static int lfromhex(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  luaL_Buffer b;
  unsigned char *p = (unsigned char *)luaL_buffinitsize(L, &b, n / 2 + 1);
  long r = shoal_crypto_hex_decode(s, n, p, n / 2 + 1);
  if (r < 0) return fail(L, 0, SHOAL_EINVAL, "fromhex: not an even number of hex digits");
  luaL_pushresultsize(&b, (size_t)r);
  return 1;
}

static int ltobase64(lua_State *L) {
  size_t n;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
  size_t len = shoal_crypto_b64_len(n);
  luaL_Buffer b;
  char *p = luaL_buffinitsize(L, &b, len + 1);
  shoal_crypto_b64_encode(s, n, p);
  luaL_pushresultsize(&b, len);
  return 1;
}

static int lfrombase64(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  size_t cap = n / 4 * 3 + 3;
  luaL_Buffer b;
  unsigned char *p = (unsigned char *)luaL_buffinitsize(L, &b, cap);
  long r = shoal_crypto_b64_decode(s, n, p, cap);
  if (r < 0) return fail(L, 0, SHOAL_EINVAL, "frombase64: not canonical unpadded base64");
  luaL_pushresultsize(&b, (size_t)r);
  return 1;
}

/* ---- AEAD sealer / opener objects ---- */

struct lua_aead {
  struct shoal_crypto_aead *a; /* NULL once closed */
};

static struct lua_aead *check_aead(lua_State *L) {
  struct lua_aead *u = luaL_checkudata(L, 1, AEAD_MT);
  if (u->a == NULL) luaL_error(L, "crypto: this sealer/opener is closed");
  return u;
}

static int new_aead(lua_State *L, int sealing) {
  const unsigned char *key = check_len(L, 1, SHOAL_CRYPTO_AEAD_KEY, sealing ? "sealer: key" : "opener: key");
  struct lua_aead *u = lua_newuserdatauv(L, sizeof(*u), 0);
  u->a = NULL;
  luaL_setmetatable(L, AEAD_MT);
  u->a = shoal_crypto_aead_new(key, sealing);
  if (u->a == NULL) return luaL_error(L, "crypto: cannot set up ChaCha20-Poly1305");
  return 1;
}

/* sealer(key) / opener(key) -> object (one direction of a connection) */
static int lsealer(lua_State *L) { return new_aead(L, 1); }
static int lopener(lua_State *L) { return new_aead(L, 0); }

/* obj:seal(plain [, aad]) -> frame | nil, code, text */
static int lseal(lua_State *L) {
  struct lua_aead *u = check_aead(L);
  size_t n, an;
  const char *plain = luaL_checklstring(L, 2, &n), *aad = luaL_optlstring(L, 3, "", &an);
  if (n > SHOAL_CRYPTO_AEAD_MAX || an > SHOAL_CRYPTO_AEAD_AAD_MAX)
    return fail(L, 0, SHOAL_CRYPTO_AEAD_MALFORMED, shoal_crypto_aead_strerror(SHOAL_CRYPTO_AEAD_MALFORMED));
  luaL_Buffer b;
  unsigned char *out = (unsigned char *)luaL_buffinitsize(L, &b, n + SHOAL_CRYPTO_AEAD_OVERHEAD);
  int r = shoal_crypto_aead_seal(u->a, plain, n, aad, an, out);
  if (r != 0) return fail(L, 0, r, shoal_crypto_aead_strerror(r));
  luaL_pushresultsize(&b, n + SHOAL_CRYPTO_AEAD_OVERHEAD);
  return 1;
}

/* obj:open(frame [, aad]) -> plain | nil, code, text */
static int lopen(lua_State *L) {
  struct lua_aead *u = check_aead(L);
  size_t n, an;
  const char *frame = luaL_checklstring(L, 2, &n), *aad = luaL_optlstring(L, 3, "", &an);
  if (n < SHOAL_CRYPTO_AEAD_OVERHEAD || n - SHOAL_CRYPTO_AEAD_OVERHEAD > SHOAL_CRYPTO_AEAD_MAX ||
      an > SHOAL_CRYPTO_AEAD_AAD_MAX)
    return fail(L, 0, SHOAL_CRYPTO_AEAD_MALFORMED, shoal_crypto_aead_strerror(SHOAL_CRYPTO_AEAD_MALFORMED));
  size_t len = n - SHOAL_CRYPTO_AEAD_OVERHEAD;
  luaL_Buffer b;
  unsigned char *out = (unsigned char *)luaL_buffinitsize(L, &b, len + 1);
  int r = shoal_crypto_aead_open(u->a, (const unsigned char *)frame, n, aad, an, out);
  if (r != 0) return fail(L, 0, r, shoal_crypto_aead_strerror(r));
  luaL_pushresultsize(&b, len);
  return 1;
}

/* obj:next() -> the sequence number of the next frame */
static int lnext(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)shoal_crypto_aead_next(check_aead(L)->a));
  return 1;
}

/* obj:close() (also __gc, __close): drops the key schedule */
static int laead_close(lua_State *L) {
  struct lua_aead *u = luaL_checkudata(L, 1, AEAD_MT);
  shoal_crypto_aead_free(u->a);
  u->a = NULL;
  return 0;
}

/* ---- password hashing on the helper threads ---- */

enum job_kind { JOB_HASH = 1, JOB_VERIFY = 2 };

struct crypto_job {
  struct shoal_crypto_job job;
  int kind;                           /* enum job_kind */
  uint32_t service;                   /* who asked (answered at session) */
  int session;
  struct shoal_crypto_kdf kdf;        /* JOB_HASH: the cost */
  size_t enclen;                      /* JOB_VERIFY: the stored string */
  char enc[SHOAL_CRYPTO_ENCODED_MAX];
  size_t pwlen;
  char pw[];                          /* the password (wiped when freed) */
};

static void job_free(struct crypto_job *j) {
  OPENSSL_cleanse(j->pw, j->pwlen);
  free(j);
}

static void job_drop(struct shoal_crypto_job *job) { job_free((struct crypto_job *)job); }

/* The answer: RESPONSE with the payload, or ERROR with code byte + text. */
static void answer(struct crypto_job *j, int code, const void *data, size_t sz) {
  char *p;
  int type = SHOAL_PTYPE_RESPONSE;
  if (code < 0) {
    const char *text = shoal_strerror(code);
    sz = strlen(text) + 1;
    p = shoal_malloc(sz + 1);
    p[0] = (char)(unsigned char)-code;
    memcpy(p + 1, text, sz); /* with its NUL: sz counts the code byte instead */
    type = SHOAL_PTYPE_ERROR;
  } else {
    p = shoal_malloc(sz + 1);
    memcpy(p, data, sz);
    p[sz] = '\0';
  }
  /* The service may be gone: the send then fails and frees p. */
  shoal_send(NULL, j->service, j->service, type, j->session, p, sz);
}

static void job_run(struct shoal_crypto_job *job) {
  struct crypto_job *j = (struct crypto_job *)job;
  if (j->kind == JOB_HASH) {
    char out[SHOAL_CRYPTO_ENCODED_MAX];
    int n = shoal_crypto_kdf_hash(&j->kdf, j->pw, j->pwlen, out);
    answer(j, n < 0 ? n : 0, out, n < 0 ? 0 : (size_t)n);
  } else {
    int r = shoal_crypto_kdf_verify(j->pw, j->pwlen, j->enc, j->enclen);
    answer(j, r < 0 ? r : 0, r == 1 ? "1" : "0", 1);
  }
  job_free(j);
}

/* The per-service client of the pool: a reference on it, dropped (with
 * the service's queued jobs) when the Lua state closes. */
static int lclient_gc(lua_State *L) {
  struct snlua **owner = luaL_checkudata(L, 1, CLIENT_MT);
  if (*owner) {
    shoal_crypto_pool_cancel(*owner);
    shoal_crypto_pool_release();
    *owner = NULL;
  }
  return 0;
}

static void ensure_client(lua_State *L, struct snlua *l) {
  static const char key = 0; /* its address is the registry key */
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &key) != LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  lua_pop(L, 1);
  struct snlua **owner = lua_newuserdatauv(L, sizeof(*owner), 0);
  *owner = NULL;
  if (luaL_newmetatable(L, CLIENT_MT)) {
    lua_pushcfunction(L, lclient_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  if (shoal_crypto_pool_acquire((int)shoal_config_int("crypto_threads"), (int)shoal_config_int("crypto_queue")) != 0)
    luaL_error(L, "crypto: cannot start the helper threads");
  *owner = l;
  lua_rawsetp(L, LUA_REGISTRYINDEX, &key);
}

/* Continuation: the resume values (true, msg, sz) or (false, text, code). */
static int job_k(lua_State *L, int status, lua_KContext k) {
  (void)status;
  int top = lua_gettop(L);
  int verify = k == JOB_VERIFY;
  if (lua_toboolean(L, top - 2)) {
    const char *msg = lua_touserdata(L, top - 1);
    size_t sz = (size_t)lua_tointeger(L, top);
    if (sz == 0 || msg == NULL) /* the session's own timer: the job took too long */
      return fail(L, verify, SHOAL_ETIMEOUT, "crypto: the password job timed out");
    if (verify) lua_pushboolean(L, msg[0] == '1');
    else lua_pushlstring(L, msg, sz);
    return 1;
  }
  if (verify) lua_pushboolean(L, 0);
  else lua_pushnil(L);
  lua_pushvalue(L, top);     /* code */
  lua_pushvalue(L, top - 1); /* text */
  return 3;
}

/* Queues job j for the running coroutine and yields until its answer. */
static int submit(lua_State *L, struct crypto_job *j) {
  struct snlua *l = SERVICE(L);
  if (!lua_isyieldable(L)) {
    job_free(j);
    return luaL_error(L, "crypto: hash_password/verify_password must run in a coroutine (a handler or shoal.start)");
  }
  ensure_client(L, l);
  int kind = j->kind;
  int session = shoal_timeout(l->ctx, l->sched.default_timeout);
  if (session < 0) {
    job_free(j);
    return fail(L, kind == JOB_VERIFY, session, shoal_strerror(session));
  }
  j->job.run = job_run;
  j->job.drop = job_drop;
  j->job.owner = l;
  j->service = shoal_self(l->ctx);
  j->session = session;
  int r = shoal_crypto_pool_submit(&j->job);
  if (r != 0) { /* the timer's answer will come to no one: dropped as late */
    job_free(j);
    return fail(L, kind == JOB_VERIFY, r, r == SHOAL_EFULL ? "crypto: too many password jobs waiting" : shoal_strerror(r));
  }
  REG(L, l->sched.sessions);
  lua_pushthread(L);
  lua_rawseti(L, -2, session);
  lua_pop(L, 1);
  return lua_yieldk(L, 0, kind, job_k);
}

static struct crypto_job *new_job(lua_State *L, int kind, int pwidx) {
  size_t n;
  const char *pw = luaL_checklstring(L, pwidx, &n);
  if (n > SHOAL_CRYPTO_PASSWORD_MAX) return NULL;
  struct crypto_job *j = calloc(1, sizeof(*j) + n + 1);
  if (j == NULL) luaL_error(L, "crypto: out of memory");
  j->kind = kind;
  j->pwlen = n;
  memcpy(j->pw, pw, n);
  return j;
}

/* The configured cost, overridden by the fields of the table at idx. */
static int read_kdf(lua_State *L, int idx, struct shoal_crypto_kdf *k) {
  const char *algo = shoal_config_string("crypto_kdf");
  if (!lua_isnoneornil(L, idx)) {
    luaL_checktype(L, idx, LUA_TTABLE);
    if (lua_getfield(L, idx, "kdf") == LUA_TSTRING) algo = lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  memset(k, 0, sizeof(*k));
  k->algo = shoal_crypto_kdf_algo_of(algo);
  k->n = (uint64_t)shoal_config_int("crypto_scrypt_n");
  k->r = (uint32_t)shoal_config_int("crypto_scrypt_r");
  k->p = (uint32_t)shoal_config_int("crypto_scrypt_p");
  k->iter = (uint32_t)shoal_config_int("crypto_pbkdf2_iter");
  if (!lua_isnoneornil(L, idx)) {
    const char *fields[] = {"n", "r", "p", "iter"};
    for (int i = 0; i < 4; i++) {
      if (lua_getfield(L, idx, fields[i]) != LUA_TNIL) {
        lua_Integer v = luaL_checkinteger(L, -1);
        if (v < 1 || v > 0xffffffffll) v = 0; /* refused by the check below */
        if (i == 0) k->n = (uint64_t)v;
        else if (i == 1) k->r = (uint32_t)v;
        else if (i == 2) k->p = (uint32_t)v;
        else k->iter = (uint32_t)v;
      }
      lua_pop(L, 1);
    }
  }
  return shoal_crypto_kdf_check(k);
}

/* hash_password(pw [, {kdf=, n=, r=, p=, iter=}]) -> encoded | nil, code, text */
static int lhash_password(lua_State *L) {
  struct shoal_crypto_kdf k;
  luaL_checkstring(L, 1);
  if (read_kdf(L, 2, &k) != 0) return fail(L, 0, SHOAL_EINVAL, "hash_password: unknown kdf or cost out of range");
  struct crypto_job *j = new_job(L, JOB_HASH, 1);
  if (j == NULL) return fail(L, 0, SHOAL_EINVAL, "hash_password: password longer than 1024 bytes");
  j->kdf = k;
  return submit(L, j);
}

/* verify_password(pw, encoded) -> true | false | false, code, text */
static int lverify_password(lua_State *L) {
  size_t n;
  luaL_checkstring(L, 1);
  const char *enc = luaL_checklstring(L, 2, &n);
  struct shoal_crypto_kdf k;
  unsigned char salt[SHOAL_CRYPTO_KDF_MAX_BYTES], hash[SHOAL_CRYPTO_KDF_MAX_BYTES];
  size_t sn, hn;
  /* Parsed here first: a malformed string costs no trip to the pool. */
  if (shoal_crypto_kdf_parse(enc, n, &k, salt, &sn, hash, &hn) != 0)
    return fail(L, 1, SHOAL_EINVAL, "verify_password: malformed password hash");
  struct crypto_job *j = new_job(L, JOB_VERIFY, 1);
  if (j == NULL) return fail(L, 1, SHOAL_EINVAL, "verify_password: password longer than 1024 bytes");
  memcpy(j->enc, enc, n);
  j->enclen = n;
  return submit(L, j);
}

/* needs_rehash(encoded [, opts]) -> bool: made with another algorithm or
 * cost than the configured one (or malformed): re-hash at the next login */
static int lneeds_rehash(lua_State *L) {
  size_t n;
  const char *enc = luaL_checklstring(L, 1, &n);
  struct shoal_crypto_kdf k;
  if (read_kdf(L, 2, &k) != 0) return luaL_error(L, "needs_rehash: unknown kdf or cost out of range");
  lua_pushboolean(L, shoal_crypto_kdf_stale(enc, n, &k) != 0);
  return 1;
}

/* pending() -> password jobs queued or running in the whole process,
 * then the totals: jobs run, jobs dropped (their service went away) */
static int lpending(lua_State *L) {
  long long done, dropped;
  lua_pushinteger(L, shoal_crypto_pool_pending());
  shoal_crypto_pool_totals(&done, &dropped);
  lua_pushinteger(L, (lua_Integer)done);
  lua_pushinteger(L, (lua_Integer)dropped);
  return 3;
}

int luaopen_shoal_crypto(lua_State *L) {
  luaL_Reg methods[] = {
      {"seal", lseal}, {"open", lopen}, {"next", lnext}, {"close", laead_close}, {NULL, NULL},
  };
  if (luaL_newmetatable(L, AEAD_MT)) {
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, laead_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, laead_close);
    lua_setfield(L, -2, "__close");
  }
  lua_pop(L, 1);
  luaL_Reg key_methods[] = {
      {"public", lkey_public}, {"exchange", lkey_exchange}, {"close", lkey_close}, {NULL, NULL},
  };
  if (luaL_newmetatable(L, KEY_MT)) {
    luaL_newlib(L, key_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, lkey_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, lkey_close);
    lua_setfield(L, -2, "__close");
  }
  lua_pop(L, 1);
  luaL_Reg funcs[] = {
      {"random", lrandom},           {"equal", lequal},
      {"sha256", lsha256},           {"hmac_sha256", lhmac_sha256},
      {"hkdf_sha256", lhkdf},        {"x25519_keypair", lx25519_keypair},
      {"x25519_public", lx25519_public}, {"x25519", lx25519},
      {"x25519_key", lx25519_key},
      {"session_keys", lsession_keys}, {"tohex", ltohex},
      {"fromhex", lfromhex},         {"tobase64", ltobase64},
      {"frombase64", lfrombase64},   {"sealer", lsealer},
      {"opener", lopener},           {"hash_password", lhash_password},
      {"verify_password", lverify_password}, {"needs_rehash", lneeds_rehash},
      {"pending", lpending},         {NULL, NULL},
  };
  luaL_newlib(L, funcs);
/* crypto.REPLAYED etc. are shoal.errors.REPLAYED etc. (one list). */
#define PUSH_AEAD_ERROR(name)                  \
  lua_pushinteger(L, SHOAL_CRYPTO_AEAD_##name); \
  lua_setfield(L, -2, #name);
  SHOAL_CRYPTO_AEAD_ERRORS(PUSH_AEAD_ERROR)
#undef PUSH_AEAD_ERROR
  lua_pushinteger(L, SHOAL_CRYPTO_AEAD_OVERHEAD);
  lua_setfield(L, -2, "AEAD_OVERHEAD");
  lua_pushinteger(L, SHOAL_CRYPTO_AEAD_MAX);
  lua_setfield(L, -2, "AEAD_MAX");
  return 1;
}
