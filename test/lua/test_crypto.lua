-- test_crypto: shoal.crypto from a Lua service. Password hashing through
-- the helper threads from many coroutines at once (the service keeps
-- running meanwhile), wrong passwords, tampered and hostile hash strings,
-- the bounded queue, a service dying with jobs queued; AEAD frames
-- refusing replays, reordering and forgeries; X25519 both sides agreeing.
local shoal = require "shoal"
local crypto = require "shoal.crypto"
local t = require "testlib"

local E = shoal.errors
local LOW = { kdf = "scrypt", n = 1024, r = 1, p = 1 } -- a test cost: fast
local cases = {}

local function hex(s)
	return crypto.tohex(s)
end

function cases.primitives()
	t.eq(hex(crypto.sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "sha256")
	t.eq(hex(crypto.hmac_sha256("Jefe", "what do ya want for nothing?")),
		"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", "hmac (RFC 4231 case 2)")
	t.eq(hex(crypto.hkdf_sha256(string.rep("\x0b", 22), crypto.fromhex("000102030405060708090a0b0c"),
		crypto.fromhex("f0f1f2f3f4f5f6f7f8f9"), 42)),
		"3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865", "hkdf (RFC 5869 case 1)")
	local a, b = crypto.random(32), crypto.random(32)
	t.eq(#a, 32, "random length")
	t.ok(a ~= b, "two random draws differ")
	t.eq(crypto.random(0), "", "random(0)")
	t.ok(crypto.equal(a, a), "equal")
	t.ok(not crypto.equal(a, b), "not equal")
	t.ok(not crypto.equal(a, a:sub(1, 31)), "different lengths")
	t.ok(crypto.equal("", ""), "empty strings")
	for n = 0, 20 do
		local s = crypto.random(n)
		t.eq(crypto.frombase64(crypto.tobase64(s)), s, "base64 round trip " .. n)
		t.eq(crypto.fromhex(hex(s)), s, "hex round trip " .. n)
	end
	t.eq(crypto.tobase64("foobar"), "Zm9vYmFy", "base64")
	local v, code = crypto.fromhex("zz")
	t.eq(v, nil, "bad hex")
	t.eq(code, E.INVAL, "bad hex code")
	v, code = crypto.frombase64("Zm9=")
	t.eq(code, E.INVAL, "padded base64 refused")
	-- Hostile sizes: raised with a clear message, never a crash.
	t.raises("0..1048576", crypto.random, -1)
	t.raises("0..1048576", crypto.random, 1 << 40)
	t.raises("length 1..8160", crypto.hkdf_sha256, "k", "", "", 0)
	t.raises("length 1..8160", crypto.hkdf_sha256, "k", "", "", 8161)
	t.raises("info at most 1024", crypto.hkdf_sha256, "k", "", string.rep("i", 1025), 32)
	t.raises("string expected", crypto.sha256, {})
end

function cases.hash_and_verify_from_many_coroutines()
	local fns = {}
	for i = 1, 12 do
		fns[i] = function()
			local pw = "password " .. i
			local enc = assert(crypto.hash_password(pw, i % 2 == 0 and LOW or { kdf = "pbkdf2-sha256", iter = 1000 }))
			t.eq(crypto.verify_password(pw, enc), true, "right password " .. i)
			t.eq(crypto.verify_password(pw .. "x", enc), false, "wrong password " .. i)
			t.eq(crypto.verify_password("", enc), false, "empty password " .. i)
			return enc
		end
	end
	local results = t.join(fns, 60000)
	local seen = {}
	for i, r in ipairs(results) do
		t.eq(r[1], true, "coroutine " .. i .. ": " .. tostring(r[2]))
		local prefix = i % 2 == 0 and "scrypt$1024$1$1$" or "pbkdf2-sha256$1000$"
		t.eq(r[2]:sub(1, #prefix), prefix, "encoded format " .. i)
		t.ok(not seen[r[2]], "a fresh salt each time")
		seen[r[2]] = true
	end
	t.wait_until(function()
		return crypto.pending() == 0
	end, 5000, 10, "pool drained")
end

function cases.service_runs_while_hashing()
	-- A default-cost hash (scrypt N=16384 r=8, ~16 MiB) runs on a helper:
	-- meanwhile this service's other coroutines keep running.
	local ticks, done = 0, false
	shoal.fork(function()
		while not done and ticks < 100000 do
			ticks = ticks + 1
			shoal.sleep(1)
		end
	end)
	local enc = assert(crypto.hash_password("default cost"))
	done = true
	t.eq(enc:sub(1, 17), "scrypt$16384$8$1$", "configured default cost")
	t.eq(crypto.verify_password("default cost", enc), true, "verify at the default cost")
	t.ok(ticks >= 1, "the service ran other coroutines meanwhile (" .. ticks .. " ticks)")
	t.eq(crypto.needs_rehash(enc), false, "current cost: no re-hash")
	t.eq(crypto.needs_rehash(enc, LOW), true, "another cost: re-hash")
	t.eq(crypto.needs_rehash("garbage"), true, "malformed: re-hash")
end

function cases.tampered_and_hostile_hashes()
	local enc = assert(crypto.hash_password("hunter2", LOW))
	t.eq(crypto.verify_password("hunter2", enc), true, "good")
	-- Each character changed in the salt or hash: never a match.
	local from = #"scrypt$1024$1$1$" + 1
	for i = from, #enc, 7 do
		local c = enc:sub(i, i)
		local tampered = enc:sub(1, i - 1) .. (c == "A" and "B" or "A") .. enc:sub(i + 1)
		local ok, code = crypto.verify_password("hunter2", tampered)
		t.eq(ok, false, "tampered at " .. i)
		t.ok(code == nil or code == E.INVAL, "tampered at " .. i .. ": mismatch or malformed")
	end
	local hostile = {
		"", "scrypt", "scrypt$1024$1$1$$", "scrypt$1099511627776$8$1$c2FsdHNhbHQ$aGFzaGhhc2g",
		"scrypt$1048576$8$1$c2FsdHNhbHQ$aGFzaGhhc2g", "pbkdf2-sha256$4294967295$c2FsdHNhbHQ$aGFzaGhhc2g",
		enc .. "$", enc:gsub("%$1024%$", "$1000$"), string.rep("$", 100000), string.rep("a", 1 << 20),
	}
	for i, h in ipairs(hostile) do
		local ok, code, text = crypto.verify_password("hunter2", h)
		t.eq(ok, false, "hostile " .. i)
		t.eq(code, E.INVAL, "hostile " .. i .. " code")
		t.contains(text, "malformed", "hostile " .. i .. " text")
	end
	local v, code = crypto.hash_password(string.rep("p", 1025), LOW)
	t.eq(v, nil, "long password")
	t.eq(code, E.INVAL, "long password code")
	v, code = crypto.verify_password(string.rep("p", 1025), enc)
	t.eq(code, E.INVAL, "long password verify")
	t.ok(crypto.hash_password(string.rep("p", 1024), LOW), "1024 bytes is allowed")
	t.ok(crypto.hash_password("", LOW), "empty password hashes")
	for _, opts in ipairs({ { kdf = "md5" }, { n = 1000 }, { n = 1 << 40 }, { n = 1 << 20, r = 8 }, { r = 0 },
		{ kdf = "pbkdf2-sha256", iter = 0 }, { kdf = "pbkdf2-sha256", iter = 1 << 33 } }) do
		v, code = crypto.hash_password("pw", opts)
		t.eq(code, E.INVAL, "bad cost refused")
	end
	t.raises("string expected", crypto.hash_password, nil)
	t.raises("table expected", crypto.hash_password, "pw", 5)
end

function cases.queue_bound()
	-- 2 helpers, 256 queued at most: 400 at once from 400 coroutines. All
	-- 400 submit within one turn of this service, while one job takes ~5
	-- ms, so the helpers can take only a few of them off the queue before
	-- it fills: the rest get FULL at once.
	local fns = {}
	for i = 1, 400 do
		fns[i] = function()
			return crypto.hash_password("pw", { kdf = "scrypt", n = 2048, r = 8, p = 1 })
		end
	end
	local results = t.join(fns, 120000)
	local ok, full = 0, 0
	for _, r in ipairs(results) do
		t.eq(r[1], true, "no raise")
		if r[2] then
			ok = ok + 1
		else
			t.eq(r[3], E.FULL, "refused with FULL")
			t.contains(r[4], "too many", "text")
			full = full + 1
		end
	end
	t.ok(full >= 1 and ok >= 256, "past the bound: FULL (" .. ok .. " hashed, " .. full .. " refused)")
	t.eq(ok + full, 400, "every call answered")
	t.ok(crypto.hash_password("after", LOW), "works again once drained")
end

function cases.dying_service_drops_its_jobs()
	-- A helper counts its job done just after it answered: wait for that.
	t.wait_until(function()
		return crypto.pending() == 0
	end, 30000, 5, "pool idle")
	local _, done0, dropped0 = crypto.pending()
	local svc = shoal.newservice("crypto_svc")
	shoal.send(svc, "lua", "flood", 100)
	t.eq(shoal.call(svc, "lua", "ping"), "pong", "flooded")
	-- 100 jobs of ~20 ms on 2 helpers: most are still queued at the kill.
	shoal.kill(svc)
	t.wait_until(function()
		return crypto.pending() == 0
	end, 30000, 5, "pool drained after the kill")
	local _, done1, dropped1 = crypto.pending()
	t.ok(dropped1 - dropped0 >= 1, "queued jobs dropped, not run (" .. (dropped1 - dropped0) .. ")")
	t.eq((done1 - done0) + (dropped1 - dropped0), 100, "each job either ran or was dropped")
	local enc = assert(crypto.hash_password("still", LOW))
	t.eq(crypto.verify_password("still", enc), true, "pool still serves")
end

function cases.aead_codes_are_shoal_errors()
	for _, name in ipairs { "MALFORMED", "REPLAYED", "REORDERED", "FORGED", "EXHAUSTED", "WRONGWAY" } do
		t.ok(E[name], "shoal.errors." .. name)
		t.eq(crypto[name], E[name], "crypto." .. name .. " is shoal.errors." .. name)
	end
end

function cases.aead_frames()
	local key = crypto.random(32)
	local tx, rx = crypto.sealer(key), crypto.opener(key)
	local f0, f1, f2 = tx:seal("hello"), tx:seal("world", "hdr"), tx:seal("")
	t.eq(#f0, 5 + crypto.AEAD_OVERHEAD, "frame size")
	t.eq(tx:next(), 3, "sealer counter")
	local v, code = rx:open(f1, "hdr")
	t.eq(v, nil, "reordered")
	t.eq(code, crypto.REORDERED, "reordered code")
	local forged = f0:sub(1, 10) .. string.char(f0:byte(11) ~ 1) .. f0:sub(12)
	v, code = rx:open(forged)
	t.eq(code, crypto.FORGED, "forged code")
	t.eq(rx:open(f0), "hello", "first frame")
	v, code = rx:open(f0)
	t.eq(code, crypto.REPLAYED, "replay code")
	v, code = rx:open(f1)
	t.eq(code, crypto.FORGED, "aad missing: forged")
	t.eq(rx:open(f1, "hdr"), "world", "second frame")
	t.eq(rx:open(f2), "", "empty frame")
	t.eq(rx:next(), 3, "opener counter")
	v, code = rx:open("short")
	t.eq(code, crypto.MALFORMED, "short frame")
	v, code = rx:open("")
	t.eq(code, crypto.MALFORMED, "empty frame")
	v, code = crypto.opener(crypto.random(32)):open(crypto.sealer(key):seal("x"))
	t.eq(code, crypto.FORGED, "other key")
	v, code = tx:open(f0)
	t.eq(code, crypto.WRONGWAY, "a sealer does not open")
	v, code = tx:seal(string.rep("x", crypto.AEAD_MAX + 1))
	t.eq(code, crypto.MALFORMED, "huge plaintext")
	t.raises("32 bytes", crypto.sealer, "short key")
	t.raises("32 bytes", crypto.opener, crypto.random(33))
	rx:close()
	t.raises("closed", rx.open, rx, f0)
	do
		local scoped <close> = crypto.sealer(key)
		scoped:seal("x")
	end
end

function cases.x25519_both_sides_agree()
	local cpriv, cpub = crypto.x25519_keypair()
	local spriv, spub = crypto.x25519_keypair()
	t.eq(#cpriv, 32, "private key")
	t.eq(crypto.x25519_public(cpriv), cpub, "public of private")
	local cs, ss = crypto.x25519(cpriv, spub), crypto.x25519(spriv, cpub)
	t.eq(cs, ss, "shared secrets agree")
	-- RFC 7748 6.1
	local alice = crypto.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
	local bob_pub = crypto.fromhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
	t.eq(hex(crypto.x25519(alice, bob_pub)), "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742", "RFC 7748")
	-- Session keys from the secret and the transcript: the same both sides,
	-- distinct per direction; a frame sealed by one side opens on the other.
	local transcript = cpub .. spub
	local c2s, s2c = crypto.session_keys(cs, transcript)
	local c2s_b, s2c_b = crypto.session_keys(ss, transcript)
	t.eq(c2s, c2s_b, "c2s agrees")
	t.eq(s2c, s2c_b, "s2c agrees")
	t.ok(c2s ~= s2c, "one key per direction")
	t.eq(crypto.opener(c2s_b):open(crypto.sealer(c2s):seal("login")), "login", "client to server")
	-- A hostile peer key: an answer, not a raise.
	local v, code = crypto.x25519(cpriv, string.rep("\0", 32))
	t.eq(v, nil, "zero peer key")
	t.eq(code, E.INVAL, "zero peer key code")
	v, code = crypto.x25519(cpriv, "short")
	t.eq(code, E.INVAL, "short peer key")
	t.raises("32 bytes", crypto.x25519, "short", spub)
end

-- The loaded key objects agree with the one-shot functions.
function cases.x25519_key_objects()
	local alice = crypto.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
	local bob_pub = crypto.fromhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
	local a = crypto.x25519_key(alice)
	t.eq(a:public(), crypto.x25519_public(alice), "public")
	t.eq(hex(a:exchange(bob_pub)), "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742", "RFC 7748")
	t.eq(hex(a:exchange(bob_pub)), "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742", "again")
	local g = crypto.x25519_key()
	t.eq(#g:public(), 32, "a fresh key")
	t.eq(g:exchange(a:public()), crypto.x25519(alice, g:public()), "fresh key agrees")
	local v, code = a:exchange(string.rep("\0", 32))
	t.eq(v, nil, "zero peer key")
	t.eq(code, E.INVAL, "zero peer key code")
	v, code = a:exchange("short")
	t.eq(code, E.INVAL, "short peer key")
	t.raises("32 bytes", crypto.x25519_key, "short")
	g:close()
	t.raises("closed", g.public, g)
end

t.start(cases, {
	"primitives",
	"hash_and_verify_from_many_coroutines",
	"service_runs_while_hashing",
	"tampered_and_hostile_hashes",
	"queue_bound",
	"dying_service_drops_its_jobs",
	"aead_codes_are_shoal_errors",
	"aead_frames",
	"x25519_both_sides_agree",
	"x25519_key_objects",
})
