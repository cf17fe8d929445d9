-- test_login_lib: the pure parts of the login path, without sockets:
-- game/proto.lua (every message round-trips; random and cut bytes never
-- raise), the worked examples of docs/protocol.md section 7 reproduced by
-- the server's code (login.server_handshake, shoal.crypto), game/ticket.lua
-- (tokens and tickets: forged, expired, truncated, wrong kind), and
-- game/admission.lua (the in-progress bound, the per-address rate, the
-- bounded address table).
local shoal = require "shoal"
local crypto = require "shoal.crypto"
local t = require "testlib"
local proto = require "game.proto"
local ticket = require "game.ticket"
local admission = require "game.admission"
local login = require "game.login"

local hex, unhex = crypto.tohex, crypto.fromhex
local C = proto.codes
local cases = {}

function cases.roundtrip()
	local samples = {
		HELLO = { 1, string.rep("k", 32) },
		WELCOME = { 1, string.rep("s", 32), string.rep("n", 16) },
		REGISTER = { "alice", "secret123" },
		LOGIN = { "bob", "pw" },
		GUEST = { string.rep("d", 16), "" },
		ERROR = { C.BUSY, 250, 0, "busy" },
		ENTER = { 1, 42, "tok" },
		ENTER_OK = { 42, 7, "alice", -5, 6, 3 },
		KICK = { C.LOGGED_IN_ELSEWHERE, "bye" },
		LOGOUT = {},
		BYE = {},
		PING = { 9 },
		PONG = { 9 },
		REDIRECT = { "127.0.0.1", 7000, "tok", string.rep("c", 32), string.rep("s", 32), 1 },
		TICKET = { "ticket" },
		MOVE = { -1000000, 1000000 },
		MOVED = { 1, 2 },
		SAY = { "hi" },
		CHAT = { 42, "alice", "hi" },
	}
	local n = 0
	for name, args in pairs(samples) do
		local body = proto.encode(name, table.unpack(args))
		local got, fields = proto.decode(body)
		t.eq(got, name, "decoded name")
		t.ok(type(fields) == "table", name .. " fields")
		-- Any cut is refused, never raised.
		for cut = 0, #body - 1 do
			local r = proto.decode(body:sub(1, cut))
			t.eq(r, nil, name .. " cut at " .. cut)
		end
		t.eq(proto.decode(body .. "x"), nil, name .. " with a byte left over")
		n = n + 1
	end
	t.eq(n, 19, "every message")
	local body = proto.encode("LOGIN_OK", 1, 42, 7, "127.0.0.1", 7000, "tok", string.rep("a", 32), string.rep("b", 32),
		1, "ticket", "", { { host = "h1", port = 1, healthy = true, online = 3 }, { host = "h2", port = 2,
			healthy = false, online = 0 } })
	local name, f = proto.decode(body)
	t.eq(name, "LOGIN_OK", "LOGIN_OK")
	t.eq(f.account, 42, "account")
	t.eq(#f.candidates, 2, "candidates")
	t.eq(f.candidates[2].host, "h2", "second candidate")
	t.eq(f.candidates[2].healthy, false, "second candidate unhealthy")
	t.eq(proto.decode(body:sub(1, -2)), nil, "LOGIN_OK cut")
end

function cases.random_bytes_never_raise()
	for i = 1, 20000 do
		local s = crypto.random(i % 64)
		local ok, err = pcall(proto.decode, s)
		t.ok(ok, "decode raised: " .. tostring(err))
	end
	-- Every id with random payloads.
	for id = 0, 0x0200 do
		for _ = 1, 8 do
			local ok = pcall(proto.decode, string.pack(">I2", id) .. crypto.random(id % 50))
			t.ok(ok, "decode raised for id " .. id)
		end
	end
end

function cases.validation()
	t.ok(proto.valid_name("alice"), "alice")
	t.ok(proto.valid_name("a.b-c_9"), "punctuation inside")
	t.ok(not proto.valid_name("ab"), "too short")
	t.ok(not proto.valid_name(string.rep("a", 33)), "too long")
	t.ok(not proto.valid_name("_x1"), "leading underscore")
	t.ok(not proto.valid_name("#guest"), "guest names cannot be registered")
	t.ok(not proto.valid_name("al ice"), "space")
	t.ok(not proto.valid_name("al\0ice"), "NUL")
	t.ok(proto.valid_password("secret123"), "password")
	t.ok(proto.valid_password("pässwörd"), "UTF-8")
	t.ok(not proto.valid_password("short"), "short")
	t.ok(not proto.valid_password("with\nnewline"), "control")
	t.ok(not proto.valid_password("with\127del"), "DEL")
	t.ok(not proto.valid_password(string.rep("p", 129)), "long")
end

-- docs/protocol.md section 7, by the server's code.
function cases.worked_examples()
	local static = unhex("a8abababababababababababababababababababababababababababababab6b")
	local priv, pub = login.static_keypair(hex(static))
	t.eq(hex(pub), "e3712d851a0e5d79b831c5e34ab22b41a198171de209b8b8faca23a11c624859", "SP")
	local ec = unhex("0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20")
	local EC = crypto.x25519_public(ec)
	t.eq(hex(EC), "07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c", "EC")
	local es = unhex("2122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f40")
	local nonce = unhex("4142434445464748494a4b4c4d4e4f50")
	local hello = proto.encode("HELLO", 1, EC)
	t.eq(hex(string.pack(">s2", hello)), "00240001000107a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdf"
		.. "c0b2b86d1c7c", "HELLO frame")
	local welcome, c2s, s2c = login.server_handshake(priv, pub, EC, es, nonce)
	t.eq(hex(string.pack(">s2", welcome)), "0034000200015869aff450549732cbaaed5e5df9b30a6da31cb0e5742bad5ad4"
		.. "a1a768f1a67b4142434445464748494a4b4c4d4e4f50", "WELCOME frame")
	t.eq(hex(c2s), "7a12964a6c794dc82fe0870cc4ff0bd6adb008f9da3d6943501bcca3a75f4cf3", "c2s")
	t.eq(hex(s2c), "10ac73f5961d50810c11ea46fd4b739ad6871d9ade41b594c28d4849ffa1dce0", "s2c")
	-- The client's half agrees.
	local cc2s, cs2c = login.client_keys(ec, pub, crypto.x25519_public(es), nonce)
	t.eq(hex(cc2s), hex(c2s), "client c2s")
	t.eq(hex(cs2c), hex(s2c), "client s2c")
	local msg = proto.encode("LOGIN", "alice", "secret123")
	t.eq(hex(msg), "00040005616c6963650009736563726574313233", "LOGIN message")
	local sealed = crypto.sealer(c2s):seal(msg)
	t.eq(hex(string.pack(">s2", sealed)), "002c0000000000000000e4988c116149970b90a85b74c3c747e55bd6cfaacdcb"
		.. "7d4873c418de20f8e5bb3b6336ba", "sealed LOGIN")
	t.eq(crypto.opener(c2s):open(sealed), msg, "the server opens it")
	local err = proto.encode("ERROR", C.WRONG_PASSWORD, 0, 0, "wrong password")
	t.eq(hex(err), "000700090000000000000000000e77726f6e672070617373776f7264", "ERROR message")
	t.eq(hex(string.pack(">s2", crypto.sealer(s2c):seal(err))), "00340000000000000000465797b69a5353e5ea2ec95ab19c"
		.. "99e0609e38b0fbd007cd4361d30d59bb99ff279e7c5d2d71acf51bddd024", "sealed ERROR")
	local ping = proto.encode("PING", 7)
	t.eq(hex(string.pack(">s2", crypto.sealer(string.rep("\x11", 32)):seal(ping))),
		"001e0000000000000000a5a99796799ea0de79b6eff352a26b937a7e00bf27f4", "sealed PING")
	-- Section 6.1: the resume secret, RESUME and the resumed keys.
	local R = ticket.resume_secret(string.rep("\x11", 32), string.rep("\x22", 32))
	t.eq(hex(R), "0471bbed06644938fa6ccfdb5b84d4d1ff726962e673b649a8de7fa2ea5da8f2", "R")
	local cn = unhex("5152535455565758595a5b5c5d5e5f60")
	local proof = ticket.resume_proof(R, 42, cn)
	t.eq(hex(proof), "e3347c53e7589f90fcfd47b214395d0b793875a7e19f65b26c699f8582377183", "proof")
	t.eq(hex(string.pack(">s2", proto.encode("RESUME", 1, 42, string.rep("\xaa", 16), cn, proof))),
		"004e00190001000000000000002a0010aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa5152535455565758595a5b5c5d5e5f60"
		.. "e3347c53e7589f90fcfd47b214395d0b793875a7e19f65b26c699f8582377183", "RESUME frame")
	local rc2s, rs2c = ticket.resume_keys(R, cn)
	t.eq(hex(rc2s), "4be41e66e2f0f82ee525bfeeaabbb831e87b3042380021ab9673a8c9d0aaae3a", "resumed c2s")
	t.eq(hex(rs2c), "617d65cde7339cd92a3a47a4b19ee7f0590b6ee6811e27569e3dd09dcb3b089c", "resumed s2c")
	local name, m = proto.decode(proto.encode("RESUME", 1, 42, "tk", cn, proof))
	t.eq(name, "RESUME", "RESUME decodes")
	t.eq(m.proof, proof, "its proof")
	-- A low-order client key is refused.
	t.eq(login.server_handshake(priv, pub, string.rep("\0", 32)), nil, "all-zero public key")
end

function cases.tokens()
	local keys = ticket.keys("secret")
	local other = ticket.keys("another secret")
	local nonce = string.rep("n", 16)
	local tok = ticket.token(keys, 42, 7, 10000, nonce, "0100000b")
	local r = ticket.check_token(keys, tok, 9999)
	t.eq(r.account, 42, "account")
	t.eq(r.epoch, 7, "epoch")
	t.eq(r.baseapp, "0100000b", "baseapp")
	t.eq(r.nonce, nonce, "nonce")
	local _, code = ticket.check_token(keys, tok, 10001)
	t.eq(code, C.TOKEN_EXPIRED, "expired")
	_, code = ticket.check_token(other, tok, 0)
	t.eq(code, C.TOKEN_INVALID, "another cluster's secret")
	for i = 1, #tok do -- every byte flipped
		local bad = tok:sub(1, i - 1) .. string.char(tok:byte(i) ~ 1) .. tok:sub(i + 1)
		_, code = ticket.check_token(keys, bad, 0)
		t.eq(code, C.TOKEN_INVALID, "byte " .. i .. " flipped")
	end
	for cut = 0, #tok - 1 do
		_, code = ticket.check_token(keys, tok:sub(1, cut), 0)
		t.eq(code, C.TOKEN_INVALID, "cut at " .. cut)
	end
	-- A resume ticket is not a token, nor the other way round.
	local R = ticket.resume_secret(string.rep("\1", 32), string.rep("\2", 32))
	local res = ticket.resume(keys, 42, 7, 10000, R, "0200000a")
	local rt = ticket.check_resume(keys, res, 5000)
	t.eq(rt.epoch, 7, "resume ticket")
	t.eq(rt.peer, "0200000a", "the backup peer")
	t.eq(rt.secret, R, "the sealed resume secret opens")
	t.ok(not res:find(R, 1, true), "R is not in the ticket in clear")
	for i = 1, #res do -- every byte flipped
		local bad = res:sub(1, i - 1) .. string.char(res:byte(i) ~ 1) .. res:sub(i + 1)
		_, code = ticket.check_resume(keys, bad, 0)
		t.eq(code, C.TOKEN_INVALID, "ticket byte " .. i .. " flipped")
	end
	for cut = 0, #res - 1 do
		_, code = ticket.check_resume(keys, res:sub(1, cut), 0)
		t.eq(code, C.TOKEN_INVALID, "ticket cut at " .. cut)
	end
	_, code = ticket.check_resume(keys, res, 10001)
	t.eq(code, C.TOKEN_EXPIRED, "resume expired")
	_, code = ticket.check_token(keys, res, 0)
	t.eq(code, C.TOKEN_INVALID, "a ticket as a token")
	_, code = ticket.check_resume(keys, tok, 0)
	t.eq(code, C.TOKEN_INVALID, "a token as a ticket")
	t.eq(#ticket.guest_credential(keys, "device"), 32, "guest credential")
	t.ok(ticket.guest_credential(keys, "device") ~= ticket.guest_credential(keys, "devicf"), "per device")
	t.between(ticket.now_ms(), 1.6e12, 1e13, "wall clock ms")
end

function cases.admission()
	local a = admission.new { max_inflight = 2, rate = 0, retry_ms = 100, random = function()
		return 0
	end }
	t.ok(a:enter("1.1.1.1", 0), "first")
	t.ok(a:enter("1.1.1.1", 0), "second")
	local ok, code, retry = a:enter("2.2.2.2", 0)
	t.eq(ok, false, "third refused")
	t.eq(code, C.BUSY, "BUSY")
	t.eq(retry, 100, "retry_ms")
	a:leave()
	t.ok(a:enter("2.2.2.2", 0), "room again")
	t.raises("admission:leave without enter", function()
		local b = admission.new { max_inflight = 1 }
		b:leave()
	end)
	-- The rate: burst 3, 2 a second.
	local r = admission.new { max_inflight = 100, rate = 2, burst = 3 }
	for i = 1, 3 do
		t.ok(r:enter("ip", 0), "burst " .. i)
		r:leave()
	end
	ok, code, retry = r:enter("ip", 0)
	t.eq(code, C.RATE, "over the rate")
	t.eq(retry, 500, "one token in 500 ms")
	t.ok(r:enter("other", 0), "another address is not limited")
	r:leave()
	t.ok(r:enter("ip", 500), "a token after 500 ms")
	r:leave()
	-- A bounded table of addresses.
	local m = admission.new { max_inflight = 10, rate = 1, burst = 1, max_addrs = 100 }
	for i = 1, 1000 do
		t.ok(m:enter("ip" .. i, i), "address " .. i)
		m:leave()
	end
	t.ok(m.naddrs <= 100, "at most max_addrs addresses kept (" .. m.naddrs .. ")")
end

t.start(cases, { "roundtrip", "random_bytes_never_raise", "validation", "worked_examples", "tokens", "admission" })
