-- game/ticket.lua - what the cluster secret signs for the login path
-- (layouts in docs/protocol.md section 8): login tokens, resume tickets,
-- guest credentials. Pure functions over shoal.crypto: no messages.
--
--   local ticket = require "game.ticket"
--   local keys = ticket.keys(secret)           -- or ticket.cluster_keys() (the node's secret)
--   local tok = ticket.token(keys, account, epoch, expiry_ms, nonce, baseapp)
--   local t, code = ticket.check_token(keys, tok, now_ms)
--       -> {account, epoch, expiry_ms, nonce, baseapp} | nil, proto code (TOKEN_INVALID, TOKEN_EXPIRED)
--   local r = ticket.resume(keys, account, epoch, expiry_ms)
--   local t, code = ticket.check_resume(keys, r, now_ms) -> {account, epoch, expiry_ms} | nil, code
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

function ticket.resume(keys, account, epoch, expiry_ms)
	return sign(keys.resume, spack(">BI8I8I8", RESUME, account, epoch, expiry_ms))
end

function ticket.check_resume(keys, r, now_ms)
	local body = verified(keys.resume, r)
	if body == nil or #body ~= 25 then
		return nil, C.TOKEN_INVALID
	end
	local kind, account, epoch, expiry = sunpack(">BI8I8I8", body)
	if kind ~= RESUME then
		return nil, C.TOKEN_INVALID
	end
	if now_ms > expiry then
		return nil, C.TOKEN_EXPIRED
	end
	return { account = account, epoch = epoch, expiry_ms = expiry }
end

function ticket.guest_credential(keys, device)
	return crypto.hmac_sha256(keys.guest, "guest" .. device)
end

return ticket
