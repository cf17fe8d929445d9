/*
 * gate_wsproto.c - WebSocket (RFC 6455) server side, pure: the opening
 * handshake (section 4.2) and the client frames (section 5). See
 * gate_wsproto.h for the contract, gate_ws.c for the gate's use of it.
 *
 * Strict where the RFC says MUST: every client frame masked, no reserved
 * bits (no extension is ever negotiated), no reserved opcode, control
 * frames final and at most 125 bytes, lengths in their shortest form,
 * continuations only inside a message. Text messages are refused (1003):
 * the gate's frames are bytes.
 *
 * Copies: a single-frame message's buffer is allocated at its exact size
 * once its header is read and the payload is unmasked straight into it; a
 * fragmented one grows by doubling (bounded by max), so joining costs
 * O(size) whatever the fragment sizes.
 */
#include "gate_wsproto.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#define OP_CONT 0x0
#define OP_TEXT 0x1
#define OP_BINARY 0x2
#define OP_CLOSE 0x8
#define OP_PING 0x9
#define OP_PONG 0xa

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* ---- frames ---- */

void shoal_ws_init(struct shoal_ws_parser *p, uint32_t max, shoal_ws_alloc alloc, shoal_ws_free dealloc) {
  memset(p, 0, sizeof(*p));
  p->alloc = alloc;
  p->dealloc = dealloc;
  p->max = max;
  p->hneed = 2;
}

void shoal_ws_reset(struct shoal_ws_parser *p) {
  if (p->body) p->dealloc(p->body);
  shoal_ws_init(p, p->max, p->alloc, p->dealloc);
}

size_t shoal_ws_pending(const struct shoal_ws_parser *p) {
  size_t n = (size_t)p->hgot + p->size + p->in_message;
  if (p->hgot == p->hneed && (p->opcode & 8)) n += (size_t)p->fgot;
  return n;
}

/* The first two header bytes are in: what they allow. */
static int check_first(struct shoal_ws_parser *p) {
  uint8_t b0 = p->hbuf[0], b1 = p->hbuf[1];
  int op = b0 & 0x0f, len7 = b1 & 0x7f;
  if (b0 & 0x70) return SHOAL_WS_ERSV;
  if (op != OP_CONT && op != OP_TEXT && op != OP_BINARY && op != OP_CLOSE && op != OP_PING && op != OP_PONG)
    return SHOAL_WS_EOPCODE;
  if (!(b1 & 0x80)) return SHOAL_WS_EUNMASKED;
  if ((op & 8) && (!(b0 & 0x80) || len7 > SHOAL_WS_CONTROL_MAX)) return SHOAL_WS_ECONTROL;
  if (op == OP_TEXT) return SHOAL_WS_ETEXT;
  if (op == OP_CONT && !p->in_message) return SHOAL_WS_ESEQUENCE;
  if (op == OP_BINARY && p->in_message) return SHOAL_WS_ESEQUENCE;
  p->hneed = (uint8_t)(2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4);
  return 0;
}

/* The whole header is in: the length, the mask, room for the payload. */
static int header_done(struct shoal_ws_parser *p) {
  const uint8_t *h = p->hbuf;
  int len7 = h[1] & 0x7f;
  uint64_t len = (uint64_t)len7;
  if (len7 == 126) {
    len = (uint64_t)h[2] << 8 | h[3];
    if (len < 126) return SHOAL_WS_ELENGTH;
  } else if (len7 == 127) {
    len = 0;
    for (int i = 0; i < 8; i++) len = len << 8 | h[2 + i];
    if ((len >> 63) || len <= 0xffff) return SHOAL_WS_ELENGTH;
  }
  memcpy(p->mask, h + p->hneed - 4, 4);
  p->opcode = h[0] & 0x0f;
  p->fin = (h[0] & 0x80) != 0;
  p->flen = len;
  p->fgot = 0;
  if (p->opcode & 8) {
    p->ctl_len = (uint8_t)len;
    return 0;
  }
  if (len > (uint64_t)p->max - p->size) return SHOAL_WS_ETOOBIG;
  uint32_t need = p->size + (uint32_t)len;
  if (need <= p->cap) return 0;
  uint32_t cap = need;
  if (!(p->opcode == OP_BINARY && p->fin)) { /* a fragment: more may follow */
    uint64_t twice = (uint64_t)p->cap * 2;
    if (twice > cap) cap = twice > p->max ? p->max : (uint32_t)twice;
  }
  char *b = p->alloc(cap);
  if (b == NULL) return SHOAL_WS_ENOMEM;
  if (p->size) memcpy(b, p->body, p->size);
  if (p->body) p->dealloc(p->body);
  p->body = b;
  p->cap = cap;
  return 0;
}

static int valid_close_code(unsigned code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/* A frame's payload is all in: the event it makes, if any. */
static int frame_done(struct shoal_ws_parser *p, void **body, uint32_t *size) {
  switch (p->opcode) {
    case OP_PING:
      return SHOAL_WS_PING;
    case OP_PONG:
      return SHOAL_WS_PONG;
    case OP_CLOSE:
      p->close_code = 0;
      if (p->ctl_len == 1) return SHOAL_WS_ECLOSE;
      if (p->ctl_len >= 2) {
        unsigned code = (unsigned)p->ctl[0] << 8 | p->ctl[1];
        if (!valid_close_code(code)) return SHOAL_WS_ECLOSE;
        p->close_code = (uint16_t)code;
      }
      return SHOAL_WS_CLOSE;
    default:
      p->in_message = 1;
      if (!p->fin) return SHOAL_WS_MORE;
      *body = p->size ? p->body : NULL;
      *size = p->size;
      if (p->size == 0 && p->body) p->dealloc(p->body);
      p->body = NULL;
      p->size = p->cap = 0;
      p->in_message = 0;
      return SHOAL_WS_MESSAGE;
  }
}

static int fail(struct shoal_ws_parser *p, int r, size_t off, size_t *used) {
  p->failed = r;
  *used = off;
  return r;
}

int shoal_ws_feed(struct shoal_ws_parser *p, const void *data, size_t n, size_t *used, void **body, uint32_t *size) {
  const uint8_t *d = data;
  size_t off = 0;
  *used = 0;
  *body = NULL;
  *size = 0;
  if (p->failed) return p->failed;
  for (;;) {
    if (p->hgot < p->hneed) {
      while (p->hgot < p->hneed && off < n) {
        p->hbuf[p->hgot++] = d[off++];
        if (p->hgot == 2) {
          int r = check_first(p);
          if (r < 0) return fail(p, r, off, used);
        }
      }
      if (p->hgot < p->hneed) {
        *used = off;
        return SHOAL_WS_MORE;
      }
      int r = header_done(p);
      if (r < 0) return fail(p, r, off, used);
    }
    uint64_t want = p->flen - p->fgot;
    size_t take = want < (uint64_t)(n - off) ? (size_t)want : n - off;
    if (take) {
      uint8_t *dst = (p->opcode & 8) ? p->ctl + p->fgot : (uint8_t *)p->body + p->size;
      for (size_t i = 0; i < take; i++) dst[i] = d[off + i] ^ p->mask[(p->fgot + i) & 3];
    }
    off += take;
    p->fgot += take;
    if (!(p->opcode & 8)) p->size += (uint32_t)take;
    if (p->fgot < p->flen) {
      *used = off;
      return SHOAL_WS_MORE;
    }
    p->hgot = 0;
    p->hneed = 2;
    int ev = frame_done(p, body, size);
    if (ev < 0) return fail(p, ev, off, used);
    if (ev != SHOAL_WS_MORE || off == n) {
      *used = off;
      return ev;
    }
  }
}

int shoal_ws_close_code(int result) {
  switch (result) {
    case SHOAL_WS_ETEXT:
      return SHOAL_WS_CLOSE_UNSUPPORTED;
    case SHOAL_WS_ETOOBIG:
      return SHOAL_WS_CLOSE_TOO_BIG;
    case SHOAL_WS_ENOMEM:
      return SHOAL_WS_CLOSE_INTERNAL;
    default:
      return SHOAL_WS_CLOSE_PROTOCOL;
  }
}

const char *shoal_ws_strerror(int result) {
  switch (result) {
    case SHOAL_WS_MORE: return "more bytes needed";
    case SHOAL_WS_MESSAGE: return "message";
    case SHOAL_WS_PING: return "ping";
    case SHOAL_WS_PONG: return "pong";
    case SHOAL_WS_CLOSE: return "close";
    case SHOAL_WS_EUNMASKED: return "unmasked client frame";
    case SHOAL_WS_ERSV: return "reserved bits set";
    case SHOAL_WS_EOPCODE: return "reserved opcode";
    case SHOAL_WS_ETEXT: return "text message (only binary messages are taken)";
    case SHOAL_WS_ECONTROL: return "control frame fragmented or over 125 bytes";
    case SHOAL_WS_ESEQUENCE: return "continuation outside a message, or a new message inside one";
    case SHOAL_WS_ELENGTH: return "frame length not in its shortest form or over 2^63";
    case SHOAL_WS_ECLOSE: return "malformed close frame";
    case SHOAL_WS_ETOOBIG: return "oversized message";
    case SHOAL_WS_ENOMEM: return "out of memory";
    default: return "unknown result";
  }
}

size_t shoal_ws_frame_header(int opcode, uint64_t len, unsigned char out[SHOAL_WS_HEADER_MAX]) {
  out[0] = (unsigned char)(0x80 | (opcode & 0x0f));
  if (len < 126) {
    out[1] = (unsigned char)len;
    return 2;
  }
  if (len <= 0xffff) {
    out[1] = 126;
    out[2] = (unsigned char)(len >> 8);
    out[3] = (unsigned char)len;
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; i++) out[2 + i] = (unsigned char)(len >> (56 - 8 * i));
  return 10;
}

size_t shoal_ws_close_frame(int code, const char *reason, unsigned char out[2 + SHOAL_WS_CONTROL_MAX]) {
  size_t rl = reason ? strlen(reason) : 0;
  if (rl > SHOAL_WS_CONTROL_MAX - 2) rl = SHOAL_WS_CONTROL_MAX - 2;
  size_t h = shoal_ws_frame_header(OP_CLOSE, 2 + rl, out);
  out[h] = (unsigned char)(code >> 8);
  out[h + 1] = (unsigned char)code;
  if (rl) memcpy(out + h + 2, reason, rl);
  return h + 2 + rl;
}

/* ---- the handshake ---- */

void shoal_ws_accept_key(const char *key, size_t keylen, char out[29]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  EVP_MD_CTX *m = EVP_MD_CTX_new();
  EVP_DigestInit_ex(m, EVP_sha1(), NULL);
  EVP_DigestUpdate(m, key, keylen);
  EVP_DigestUpdate(m, ws_guid, sizeof(ws_guid) - 1);
  EVP_DigestFinal_ex(m, md, &mdlen);
  EVP_MD_CTX_free(m);
  EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen); /* 20 bytes: 28 characters and a NUL */
}

/* A header line's parts (not NUL-terminated). */
struct span {
  const char *p;
  size_t n;
};

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static int span_ieq(struct span s, const char *lit) {
  size_t n = strlen(lit);
  if (s.n != n) return 0;
  for (size_t i = 0; i < n; i++)
    if (lower((unsigned char)s.p[i]) != lower((unsigned char)lit[i])) return 0;
  return 1;
}

static struct span trim(const char *p, size_t n) {
  while (n && (*p == ' ' || *p == '\t')) p++, n--;
  while (n && (p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
  struct span s = {p, n};
  return s;
}

/* Whether the comma-separated list v holds token (case-insensitive). */
static int has_token(struct span v, const char *token) {
  size_t i = 0;
  while (i <= v.n) {
    size_t j = i;
    while (j < v.n && v.p[j] != ',') j++;
    if (span_ieq(trim(v.p + i, j - i), token)) return 1;
    i = j + 1;
  }
  return 0;
}

/* Whether s is the base64 text of 16 bytes: 22 characters then "==". */
static int valid_key(struct span s) {
  static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (s.n != 24 || s.p[22] != '=' || s.p[23] != '=') return 0;
  for (size_t i = 0; i < 22; i++)
    if (s.p[i] == '\0' || strchr(b64, s.p[i]) == NULL) return 0;
  return (strchr(b64, s.p[21]) - b64) % 16 == 0; /* the last character's low 4 bits are padding */
}

static int origin_allowed(const char *origins, struct span origin) {
  if (origins == NULL || origins[0] == '\0' || strcmp(origins, "*") == 0) return 1;
  const char *p = origins;
  while (*p) {
    const char *e = strchr(p, ',');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    struct span want = trim(p, n);
    if (want.n == origin.n && want.n && memcmp(want.p, origin.p, want.n) == 0) return 1;
    if (e == NULL) break;
    p = e + 1;
  }
  return 0;
}

static int respond(int status, const char *why_text, char *reply, size_t cap, const char **why) {
  const char *text = status == 400   ? "Bad Request"
                     : status == 403 ? "Forbidden"
                     : status == 404 ? "Not Found"
                     : status == 405 ? "Method Not Allowed"
                     : status == 426 ? "Upgrade Required"
                                     : "Request Header Fields Too Large";
  snprintf(reply, cap,
           "HTTP/1.1 %d %s\r\nConnection: close\r\n%sContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n%s\n",
           status, text, status == 426 ? "Sec-WebSocket-Version: 13\r\n" : "", strlen(why_text) + 1, why_text);
  *why = why_text;
  return status;
}

int shoal_ws_handshake(const char *buf, size_t n, const struct shoal_ws_policy *policy, size_t *used, char *reply,
                       size_t cap, const char **why) {
  size_t end = 0;
  for (size_t i = 3; i < n && i < SHOAL_WS_HEAD_MAX; i++) {
    if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r') {
      end = i + 1;
      break;
    }
  }
  *used = end ? end : n < SHOAL_WS_HEAD_MAX ? n : SHOAL_WS_HEAD_MAX;
  if (end == 0) {
    if (n < SHOAL_WS_HEAD_MAX) return 0;
    return respond(431, "request head over 8192 bytes", reply, cap, why);
  }
  /* The request line: GET SP target SP HTTP/1.1 CRLF */
  const char *line = buf, *stop = buf + end - 2; /* the last CRLF */
  const char *eol = memchr(line, '\r', (size_t)(stop - line) + 1);
  if (eol == NULL || eol[1] != '\n') return respond(400, "malformed request line", reply, cap, why);
  const char *sp1 = memchr(line, ' ', (size_t)(eol - line));
  const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
  if (sp1 == NULL || sp2 == NULL || sp2 == sp1 + 1) return respond(400, "malformed request line", reply, cap, why);
  struct span method = {line, (size_t)(sp1 - line)}, target = {sp1 + 1, (size_t)(sp2 - sp1 - 1)};
  struct span version = {sp2 + 1, (size_t)(eol - sp2 - 1)};
  if (!(version.n == 8 && memcmp(version.p, "HTTP/1.1", 8) == 0))
    return respond(400, "HTTP/1.1 required", reply, cap, why);
  if (!(method.n == 3 && memcmp(method.p, "GET", 3) == 0))
    return respond(405, "only GET upgrades to a WebSocket", reply, cap, why);
  struct span key = {NULL, 0}, origin = {NULL, 0};
  int host = 0, upgrade = 0, connection = 0, keys = 0, version13 = 0, has_version = 0, has_origin = 0;
  for (const char *p = eol + 2; p < stop;) {
    const char *e = memchr(p, '\r', (size_t)(stop - p) + 1);
    if (e == NULL || e[1] != '\n') return respond(400, "malformed header line", reply, cap, why);
    const char *colon = memchr(p, ':', (size_t)(e - p));
    if (colon == NULL || colon == p || *p == ' ' || *p == '\t')
      return respond(400, "malformed header line", reply, cap, why);
    struct span name = {p, (size_t)(colon - p)};
    for (size_t i = 0; i < name.n; i++)
      if (name.p[i] == ' ' || name.p[i] == '\t' || name.p[i] == '\0' || name.p[i] == '\n')
        return respond(400, "malformed header line", reply, cap, why);
    struct span value = trim(colon + 1, (size_t)(e - colon - 1));
    if (span_ieq(name, "host")) host = 1;
    else if (span_ieq(name, "upgrade")) upgrade |= has_token(value, "websocket");
    else if (span_ieq(name, "connection")) connection |= has_token(value, "upgrade");
    else if (span_ieq(name, "sec-websocket-key")) key = value, keys++;
    else if (span_ieq(name, "sec-websocket-version")) has_version = 1, version13 = value.n == 2 && memcmp(value.p, "13", 2) == 0;
    else if (span_ieq(name, "origin")) origin = value, has_origin = 1;
    p = e + 2;
  }
  if (!host) return respond(400, "no Host header", reply, cap, why);
  if (!upgrade || !connection)
    return respond(400, "not a WebSocket upgrade (Upgrade: websocket and Connection: Upgrade)", reply, cap, why);
  if (!has_version || !version13) return respond(426, "Sec-WebSocket-Version 13 required", reply, cap, why);
  if (keys != 1 || !valid_key(key)) return respond(400, "bad Sec-WebSocket-Key", reply, cap, why);
  const char *q = memchr(target.p, '?', target.n);
  struct span path = {target.p, q ? (size_t)(q - target.p) : target.n};
  const char *want = policy && policy->path ? policy->path : "/";
  if (!(path.n == strlen(want) && memcmp(path.p, want, path.n) == 0))
    return respond(404, "no WebSocket at this path", reply, cap, why);
  if (has_origin && !origin_allowed(policy ? policy->origins : NULL, origin))
    return respond(403, "origin not allowed", reply, cap, why);
  char accept[29];
  shoal_ws_accept_key(key.p, key.n, accept);
  snprintf(reply, cap,
           "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Accept: %s\r\n\r\n",
           accept);
  *why = "upgraded";
  return 101;
}
