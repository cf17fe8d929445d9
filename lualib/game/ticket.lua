-- game/ticket.lua - what the cluster secret signs for the login path
-- (layouts in docs/protocol.md section 8): login tokens, resume tickets,
-- guest credentials. Pure functions over shoal.crypto: no messages.
--
--   local ticket = require "game.ticket"
--   local keys = ticket.keys(secret)           -- or ticket.cluster_keys() (the node's secret)
--   local tok = ticket.token(keys, account, epoch, expiry_ms, nonce, baseapp)
--   local t, code = ticket.check_token(keys, tok, now_ms)
--       -> {account, epoch, expiry_ms, nonce, baseapp} | nil, proto code (TOKEN_INVALID, TOKEN_EXPIRED)
--   local r = ticket.resume(keys, account, epoch, expiry_ms, secret, peer)
--   local t, code = ticket.check_resume(keys, r, now_ms)
--       -> {account, epoch, expiry_ms, peer, secret} | nil, code (TOKEN_INVALID, TOKEN_EXPIRED)
--   ticket.resume_secret(c2s, s2c)             -- R, the session's resume secret (both sides derive it)
--   ticket.resume_proof(secret, account, nonce) -- what a RESUME carries to show it knows R
--   ticket.resume_keys(secret, nonce)          -- c2s, s2c of the resumed connection
--   ticket.guest_credential(keys, device) -> 32 bytes
--   ticket.now_ms()                            -- wall clock, ms since the Unix epoch
--
-- The MAC is compared in constant time; a token is checked for its MAC
-- before any of its fields is believed.

local shoal = require "shoal"
local crypto = require "shoal.crypto"
local proto = require "game.proto"

local ticket = {}
local C = proto.codes
local spack, sunpack = string.pack, string.unpack

local TOKEN = 1
local RESUME = 2
local MAC = 32

function ticket.keys(secret)
	assert(type(secret) == "string" and #secret > 0, "ticket.keys: an empty secret")
	return {
		token = crypto.hkdf_sha256(secret, "", "shoal login token v1", 32),
		resume = crypto.hkdf_sha256(secret, "", "shoal resume ticket v1", 32),
		seal = crypto.hkdf_sha256(secret, "", "shoal resume seal v1", 32),
		guest = crypto.hkdf_sha256(secret, "", "shoal guest credential v1", 32),
	}
end

-- The keys of this node's cluster secret (the environment variable named
-- by cluster_secret_env, the harbor's). Raises without one: the loginapp
-- and the baseapps (separate services, often separate nodes) must share it.
local cached
function ticket.cluster_keys()
	if cached == nil then
		local var = shoal.config("cluster_secret_env")
		local secret = os.getenv(var)
		if secret == nil or secret == "" then
			error("ticket: no cluster secret: set the environment variable " .. var
				.. " (the same on every node) to sign login tokens", 2)
		end
		cached = ticket.keys(secret)
	end
	return cached
end

function ticket.now_ms()
	return math.floor(shoal.time() * 1000)
end

local function sign(key, body)
	return body .. crypto.hmac_sha256(key, body)
end

-- body, or nil when the MAC does not verify.
local function verified(key, s)
	if type(s) ~= "string" or #s <= MAC then
		return nil
	end
	local body = s:sub(1, -MAC - 1)
	if not crypto.equal(crypto.hmac_sha256(key, body), s:sub(-MAC)) then
		return nil
	end
	return body
end

function ticket.token(keys, account, epoch, expiry_ms, nonce, baseapp)
	return sign(keys.token, spack(">BI8I8I8c16s2", TOKEN, account, epoch, expiry_ms, nonce, baseapp))
end

function ticket.check_token(keys, tok, now_ms)
	local body = verified(keys.token, tok)
	if body == nil then
		return nil, C.TOKEN_INVALID
	end
	local ok, kind, account, epoch, expiry, nonce, baseapp, pos = pcall(sunpack, ">BI8I8I8c16s2", body)
	if not ok or kind ~= TOKEN or pos ~= #body + 1 then
		return nil, C.TOKEN_INVALID
	end
	if now_ms > expiry then
		return nil, C.TOKEN_EXPIRED
	end
	return { account = account, epoch = epoch, expiry_ms = expiry, nonce = nonce, baseapp = baseapp }
end

-- The resume secret R travels in the ticket sealed: XORed with a pad that
-- is an HMAC (a PRF) of the ticket's fields under K_seal, and the whole
-- ticket is MACed after (encrypt then MAC). A ticket's R is the same for
-- every ticket of a session, so two pads over the same fields hide the same
-- value: nothing leaks, and a thief of a ticket cannot read R.
local RESUME_FIELDS = ">BI8I8I8s2"
local SECRET = 32

local function pad(keys, account, epoch, expiry_ms)
	return crypto.hmac_sha256(keys.seal, spack(">c1I8I8I8", "R", account, epoch, expiry_ms))
end

local function xor32(a, b)
	local out = {}
	for i = 1, SECRET do
		out[i] = string.char(a:byte(i) ~ b:byte(i))
	end
	return table.concat(out)
end

function ticket.resume(keys, account, epoch, expiry_ms, secret, peer)
	assert(type(secret) == "string" and #secret == SECRET, "ticket.resume: a 32-byte resume secret is required")
	local fields = spack(RESUME_FIELDS, RESUME, account, epoch, expiry_ms, peer or "")
	return sign(keys.resume, fields .. xor32(secret, pad(keys, account, epoch, expiry_ms)))
end

function ticket.check_resume(keys, r, now_ms)
	local body = verified(keys.resume, r)
	if body == nil then
		return nil, C.TOKEN_INVALID
	end
	local ok, kind, account, epoch, expiry, peer, pos = pcall(sunpack, RESUME_FIELDS, body)
	if not ok or kind ~= RESUME or pos + SECRET ~= #body + 1 then
		return nil, C.TOKEN_INVALID
	end
	if now_ms > expiry then
		return nil, C.TOKEN_EXPIRED
	end
	local secret = xor32(body:sub(pos), pad(keys, account, epoch, expiry))
	return { account = account, epoch = epoch, expiry_ms = expiry, peer = peer, secret = secret }
end

-- R = HKDF(c2s | s2c): the client holds the game keys of its session, so
-- it derives R itself and LOGIN_OK, ENTER_OK and TICKET keep their layout.
function ticket.resume_secret(c2s, s2c)
	return crypto.hkdf_sha256(c2s .. s2c, "", "shoal resume secret v1", SECRET)
end

function ticket.resume_proof(secret, account, nonce)
	return crypto.hmac_sha256(secret, spack(">c21I8c16", "shoal resume proof v1", account, nonce))
end

-- The keys of the resumed connection: fresh (the client's nonce), known
-- only to whoever holds R.
function ticket.resume_keys(secret, nonce)
	local okm = crypto.hkdf_sha256(secret, nonce, "shoal resume keys v1", 64)
	return okm:sub(1, 32), okm:sub(33, 64)
end

function ticket.guest_credential(keys, device)
	return crypto.hmac_sha256(keys.guest, "guest" .. device)
end

return ticket
