// aead.js - ChaCha20-Poly1305 (RFC 8439) in plain JavaScript, written from
// the RFC, for browsers: WebCrypto has no ChaCha20-Poly1305, and the
// protocol (docs/protocol.md section 1) seals frames with it. The frame
// layout is Shoal's (docs/crypto.md): SEQ (8 bytes, big-endian) |
// CIPHERTEXT | TAG (16 bytes), nonce = 4 zero bytes | SEQ, no associated
// data. Checked against OpenSSL (through Python's cryptography) and the
// protocol's worked examples by test/e2e/test_web_client.py.
//
// Not constant time (Poly1305 on BigInt): fine for a demo client, whose
// keys live one session in one tab.
"use strict";

const ShoalAead = (() => {
  function rotl(x, n) {
    return (x << n) | (x >>> (32 - n));
  }

  // One 64-byte ChaCha20 block (RFC 8439 2.3) of key (8 words), counter,
  // nonce (3 words), into out (Uint8Array(64)).
  function block(k, counter, n, out) {
    const s = new Uint32Array(16);
    s[0] = 0x61707865; s[1] = 0x3320646e; s[2] = 0x79622d32; s[3] = 0x6b206574;
    for (let i = 0; i < 8; i++) s[4 + i] = k[i];
    s[12] = counter; s[13] = n[0]; s[14] = n[1]; s[15] = n[2];
    const x = new Uint32Array(s);
    function qr(a, b, c, d) {
      x[a] += x[b]; x[d] = rotl(x[d] ^ x[a], 16);
      x[c] += x[d]; x[b] = rotl(x[b] ^ x[c], 12);
      x[a] += x[b]; x[d] = rotl(x[d] ^ x[a], 8);
      x[c] += x[d]; x[b] = rotl(x[b] ^ x[c], 7);
    }
    for (let i = 0; i < 10; i++) {
      qr(0, 4, 8, 12); qr(1, 5, 9, 13); qr(2, 6, 10, 14); qr(3, 7, 11, 15);
      qr(0, 5, 10, 15); qr(1, 6, 11, 12); qr(2, 7, 8, 13); qr(3, 4, 9, 14);
    }
    for (let i = 0; i < 16; i++) {
      const v = (x[i] + s[i]) >>> 0;
      out[4 * i] = v; out[4 * i + 1] = v >>> 8; out[4 * i + 2] = v >>> 16; out[4 * i + 3] = v >>> 24;
    }
  }

  function words(bytes) {
    const w = new Uint32Array(bytes.length / 4);
    for (let i = 0; i < w.length; i++)
      w[i] = bytes[4 * i] | (bytes[4 * i + 1] << 8) | (bytes[4 * i + 2] << 16) | (bytes[4 * i + 3] << 24);
    return w;
  }

  // ChaCha20 (RFC 8439 2.4) of data from block counter on: a new array.
  function chacha20(key, counter, nonce, data) {
    const k = words(key), n = words(nonce), ks = new Uint8Array(64), out = new Uint8Array(data.length);
    for (let off = 0; off < data.length; off += 64, counter++) {
      block(k, counter >>> 0, n, ks);
      const m = Math.min(64, data.length - off);
      for (let i = 0; i < m; i++) out[off + i] = data[off + i] ^ ks[i];
    }
    return out;
  }

  function le(bytes) {
    let v = 0n;
    for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
    return v;
  }

  // Poly1305 (RFC 8439 2.5) of msg under the 32-byte one-time key.
  function poly1305(key, msg) {
    const p = (1n << 130n) - 5n;
    const r = le(key.subarray(0, 16)) & 0x0ffffffc0ffffffc0ffffffc0fffffffn;
    const s = le(key.subarray(16, 32));
    let acc = 0n;
    for (let i = 0; i < msg.length; i += 16) {
      const b = msg.subarray(i, Math.min(i + 16, msg.length));
      acc = ((acc + le(b) + (1n << BigInt(8 * b.length))) * r) % p;
    }
    acc = (acc + s) & ((1n << 128n) - 1n);
    const tag = new Uint8Array(16);
    for (let i = 0; i < 16; i++, acc >>= 8n) tag[i] = Number(acc & 0xffn);
    return tag;
  }

  function pad16(n) {
    return (16 - (n % 16)) % 16;
  }

  // The tag of ciphertext ct (no associated data: RFC 8439 2.8 with aad "").
  function tagOf(key, nonce, ct) {
    const otk = chacha20(key, 0, nonce, new Uint8Array(32));
    const mac = new Uint8Array(ct.length + pad16(ct.length) + 16);
    mac.set(ct, 0);
    let len = ct.length, at = mac.length - 8;
    for (let i = 0; i < 8; i++, len = Math.floor(len / 256)) mac[at + i] = len & 0xff;
    return poly1305(otk, mac);
  }

  function nonceOf(seq) {
    const n = new Uint8Array(12);
    let v = BigInt(seq);
    for (let i = 11; i >= 4; i--, v >>= 8n) n[i] = Number(v & 0xffn);
    return n;
  }

  // seal(key, seq, plain) -> SEQ | CIPHERTEXT | TAG
  function seal(key, seq, plain) {
    const nonce = nonceOf(seq), ct = chacha20(key, 1, nonce, plain);
    const out = new Uint8Array(8 + ct.length + 16);
    out.set(nonce.subarray(4), 0);
    out.set(ct, 8);
    out.set(tagOf(key, nonce, ct), 8 + ct.length);
    return out;
  }

  // open(key, seq, frame) -> plaintext; throws on a wrong SEQ or tag.
  function open(key, seq, frame) {
    if (frame.length < 24) throw new Error("malformed sealed frame (" + frame.length + " bytes)");
    const nonce = nonceOf(seq);
    for (let i = 0; i < 8; i++)
      if (frame[i] !== nonce[4 + i]) throw new Error("sealed frame out of sequence (expected " + seq + ")");
    const ct = frame.subarray(8, frame.length - 16), tag = frame.subarray(frame.length - 16);
    const want = tagOf(key, nonce, ct);
    let diff = 0;
    for (let i = 0; i < 16; i++) diff |= want[i] ^ tag[i];
    if (diff !== 0) throw new Error("sealed frame does not verify");
    return chacha20(key, 1, nonce, ct);
  }

  // One direction of a connection: counts SEQ from 0.
  class Direction {
    constructor(key) {
      this.key = key;
      this.seq = 0;
    }
    seal(plain) {
      return seal(this.key, this.seq++, plain);
    }
    open(frame) {
      const p = open(this.key, this.seq, frame);
      this.seq++;
      return p;
    }
  }

  return { seal, open, chacha20, poly1305, Direction };
})();
