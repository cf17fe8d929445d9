// client.js - a browser game client for Shoal, written from
// docs/protocol.md, over the gates' WebSocket (docs/gate.md "WebSocket
// clients"): each binary WebSocket message carries one frame body (no
// 2-byte length: the WebSocket message has its own). X25519 and HKDF come
// from WebCrypto, ChaCha20-Poly1305 from aead.js.
"use strict";

const Shoal = (() => {
  const ID = {
    HELLO: 0x0001, WELCOME: 0x0002, REGISTER: 0x0003, LOGIN: 0x0004, LOGIN_OK: 0x0006, ERROR: 0x0007,
    ENTER: 0x0010, ENTER_OK: 0x0011, KICK: 0x0012, LOGOUT: 0x0013, BYE: 0x0014, PING: 0x0015, PONG: 0x0016,
    TICKET: 0x0018, GATES: 0x001a, MOVE: 0x0100, MOVED: 0x0101,
  };
  const enc = new TextEncoder(), dec = new TextDecoder();

  function concat(...parts) {
    const n = parts.reduce((a, p) => a + p.length, 0), out = new Uint8Array(n);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
  function u16(v) {
    return new Uint8Array([(v >> 8) & 0xff, v & 0xff]);
  }
  function u64(v) {
    const b = new Uint8Array(8);
    let x = BigInt(v);
    for (let i = 7; i >= 0; i--, x >>= 8n) b[i] = Number(x & 0xffn);
    return b;
  }
  function i32(v) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, v);
    return b;
  }
  function s2(v) {
    const b = typeof v === "string" ? enc.encode(v) : v;
    return concat(u16(b.length), b);
  }
  function msg(id, ...fields) {
    return concat(u16(id), ...fields);
  }
  function hex(s) {
    const b = new Uint8Array(s.length / 2);
    for (let i = 0; i < b.length; i++) b[i] = parseInt(s.substr(2 * i, 2), 16);
    return b;
  }

  class Reader {
    constructor(b) {
      this.b = b;
      this.at = 0;
      this.v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    }
    take(n) {
      if (this.at + n > this.b.length) throw new Error("message cut short");
      const out = this.b.subarray(this.at, this.at + n);
      this.at += n;
      return out;
    }
    u8() { return this.take(1)[0]; }
    u16() { this.take(2); return this.v.getUint16(this.at - 2); }
    u32() { this.take(4); return this.v.getUint32(this.at - 4); }
    u64() { this.take(8); return Number(this.v.getBigUint64(this.at - 8)); }
    i32() { this.take(4); return this.v.getInt32(this.at - 4); }
    str() { return dec.decode(this.take(this.u16())); }
    bytes() { return this.take(this.u16()).slice(); }
  }

  function decode(body) {
    const r = new Reader(body), id = r.u16(), f = { id };
    switch (id) {
      case ID.WELCOME:
        f.version = r.u16(); f.pub = r.take(32).slice(); f.nonce = r.take(16).slice(); break;
      case ID.LOGIN_OK:
        f.version = r.u16(); f.account = r.u64(); f.epoch = r.u64(); f.host = r.str(); f.port = r.u16();
        f.token = r.bytes(); f.c2s = r.take(32).slice(); f.s2c = r.take(32).slice(); f.encrypted = r.u8();
        f.ticket = r.bytes(); f.credential = r.bytes(); break;
      case ID.ERROR:
        f.code = r.u16(); f.retry = r.u32(); f.queue = r.u32(); f.text = r.str(); break;
      case ID.ENTER_OK:
        f.account = r.u64(); f.epoch = r.u64(); f.name = r.str(); f.x = r.i32(); f.y = r.i32(); f.logins = r.u32();
        break;
      case ID.KICK:
        f.code = r.u16(); f.text = r.str(); break;
      case ID.PONG:
        f.n = r.u32(); break;
      case ID.MOVED:
        f.x = r.i32(); f.y = r.i32(); break;
      default:
        break; // TICKET, GATES, BYE, ...: not looked into here
    }
    return f;
  }

  class ServerError extends Error {
    constructor(f) {
      super((f.id === ID.KICK ? "KICK " : "ERROR ") + f.code + ": " + f.text);
      this.code = f.code;
    }
  }

  // One WebSocket: messages in a queue, next() waits (bounded).
  class Link {
    constructor(url) {
      this.url = url;
      this.queue = [];
      this.waiters = [];
      this.closed = null;
    }
    open(timeoutMs) {
      return new Promise((resolve, reject) => {
        const ws = new WebSocket(this.url);
        ws.binaryType = "arraybuffer";
        const t = setTimeout(() => reject(new Error("no WebSocket to " + this.url + " within " + timeoutMs + " ms")),
                             timeoutMs);
        ws.onopen = () => { clearTimeout(t); resolve(this); };
        ws.onmessage = (e) => this.push(new Uint8Array(e.data));
        ws.onclose = (e) => {
          clearTimeout(t);
          this.closed = "closed (code " + e.code + (e.reason ? ", " + e.reason : "") + ")";
          reject(new Error(this.url + ": " + this.closed));
          for (const w of this.waiters.splice(0)) w.reject(new Error(this.closed));
        };
        this.ws = ws;
      });
    }
    push(m) {
      const w = this.waiters.shift();
      if (w) w.resolve(m);
      else this.queue.push(m);
    }
    send(body) {
      this.ws.send(body);
    }
    next(timeoutMs) {
      if (this.queue.length) return Promise.resolve(this.queue.shift());
      if (this.closed) return Promise.reject(new Error(this.closed));
      return new Promise((resolve, reject) => {
        const w = { resolve, reject };
        const t = setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          reject(new Error("no message within " + timeoutMs + " ms"));
        }, timeoutMs);
        w.resolve = (m) => { clearTimeout(t); resolve(m); };
        w.reject = (e) => { clearTimeout(t); reject(e); };
        this.waiters.push(w);
      });
    }
    close() {
      this.ws.close(1000, "done");
    }
  }

  async function x25519Pair() {
    const pair = await crypto.subtle.generateKey({ name: "X25519" }, true, ["deriveBits"]);
    const pub = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    return { priv: pair.privateKey, pub };
  }
  async function x25519(priv, peer) {
    const k = await crypto.subtle.importKey("raw", peer, { name: "X25519" }, false, []);
    return new Uint8Array(await crypto.subtle.deriveBits({ name: "X25519", public: k }, priv, 256));
  }
  async function hkdf(ikm, salt, info, n) {
    const k = await crypto.subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
    const bits = await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt, info: enc.encode(info) }, k,
                                                8 * n);
    return new Uint8Array(bits);
  }

  // The login (sections 4 and 5): -> the LOGIN_OK fields, or throws.
  async function login(opt, log) {
    const link = await new Link("ws://" + opt.host + ":" + opt.port + "/").open(opt.timeout);
    try {
      const me = await x25519Pair();
      link.send(msg(ID.HELLO, u16(1), me.pub));
      const w = decode(await link.next(opt.timeout));
      if (w.id === ID.ERROR) throw new ServerError(w);
      if (w.id !== ID.WELCOME) throw new Error("expected WELCOME, got id " + w.id);
      const sp = hex(opt.pin);
      const dh1 = await x25519(me.priv, sp), dh2 = await x25519(me.priv, w.pub);
      const transcript = concat(enc.encode("shoal login v1"), me.pub, w.pub, w.nonce, sp);
      const okm = await hkdf(concat(dh1, dh2), transcript, "shoal session keys v1", 64);
      const tx = new ShoalAead.Direction(okm.slice(0, 32)), rx = new ShoalAead.Direction(okm.slice(32, 64));
      log("key exchange done");
      link.send(tx.seal(msg(opt.register ? ID.REGISTER : ID.LOGIN, s2(opt.name), s2(opt.password))));
      const ok = decode(rx.open(await link.next(opt.timeout)));
      if (ok.id === ID.ERROR) throw new ServerError(ok);
      if (ok.id !== ID.LOGIN_OK) throw new Error("expected LOGIN_OK, got id " + ok.id);
      return ok;
    } finally {
      link.close();
    }
  }

  // The game connection (section 6): ENTER, then play.
  class Game {
    constructor(ok, opt) {
      this.ok = ok;
      this.opt = opt;
    }
    async enter() {
      const ok = this.ok;
      this.link = await new Link("ws://" + ok.host + ":" + ok.port + "/").open(this.opt.timeout);
      this.link.send(msg(ID.ENTER, u16(1), u64(ok.account), s2(ok.token)));
      if (ok.encrypted) {
        this.tx = new ShoalAead.Direction(ok.c2s);
        this.rx = new ShoalAead.Direction(ok.s2c);
      }
      this.entered = await this.expect(ID.ENTER_OK, true);
      return this.entered;
    }
    send(body) {
      this.link.send(this.tx ? this.tx.seal(body) : body);
    }
    async expect(id, clearError) {
      for (;;) {
        let body = await this.link.next(this.opt.timeout);
        if (this.rx) {
          try {
            body = this.rx.open(body);
          } catch (e) {
            if (clearError) throw new ServerError(decode(body)); // a refused ENTER is answered in clear
            throw e;
          }
        }
        const f = decode(body);
        if (f.id === ID.ERROR || f.id === ID.KICK) throw new ServerError(f);
        if (f.id === id) return f;
        // TICKET, GATES, CHAT: not needed by this page
      }
    }
    async move(x, y) {
      this.send(msg(ID.MOVE, i32(x), i32(y)));
      return this.expect(ID.MOVED);
    }
    async ping(n) {
      this.send(msg(ID.PING, new Uint8Array([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff])));
      return (await this.expect(ID.PONG)).n;
    }
    async logout() {
      this.send(msg(ID.LOGOUT));
      await this.expect(ID.BYE);
      this.link.close();
    }
  }

  return { login, Game, hex };
})();
