-- game/proto.lua - the client protocol's numbers and encodings, once
-- (docs/protocol.md is the byte-for-byte description; keep them in step).
--
--   local proto = require "game.proto"
--   local body = proto.encode("ERROR", proto.codes.BUSY, 250, 0, "busy")
--   local name, fields = proto.decode(body)   -- "ERROR", {code =, retry_after_ms =, ...}
--                                             -- | nil, why (MALFORMED)
--   proto.error(code, text, retry_ms)         -- an ERROR body
--
-- Every message is a u16 id then its fields, each a string.pack format
-- (big-endian, lengths as u16). decode() refuses a short message, bytes
-- left over and unknown ids; it never raises on client bytes.

local proto = {}

proto.VERSION = 1

-- Error codes sent to clients (ERROR.code, KICK.code). Never renumber.
proto.codes = {
	MALFORMED = 1,
	BAD_VERSION = 2,
	BUSY = 3,
	RATE = 4,
	BAD_NAME = 5,
	BAD_PASSWORD = 6,
	NAME_TAKEN = 7,
	UNKNOWN_ACCOUNT = 8,
	WRONG_PASSWORD = 9,
	BAD_CREDENTIAL = 10,
	LOGIN_RACE = 11,
	NO_BASEAPP = 12,
	UNAVAILABLE = 13,
	TOKEN_INVALID = 14,
	TOKEN_EXPIRED = 15,
	TOKEN_USED = 16,
	TOKEN_FOREIGN = 17,
	NOT_ENTERED = 18,
	LOGGED_IN_ELSEWHERE = 19,
	TIMEOUT = 20,
	UNKNOWN_MESSAGE = 21,
	BAD_MOVE = 22,
	BAD_TEXT = 23,
	SHUTDOWN = 24,
	DECRYPT = 25,
}
proto.code_names = {}
for k, v in pairs(proto.codes) do
	proto.code_names[v] = k
end

-- Messages: id and fields as {name, string.pack format}.
local CANDIDATES = "candidates" -- LOGIN_OK's list, encoded by hand
local MESSAGES = {
	HELLO = { 0x0001, { "version", ">I2" }, { "public", "c32" } },
	WELCOME = { 0x0002, { "version", ">I2" }, { "public", "c32" }, { "nonce", "c16" } },
	REGISTER = { 0x0003, { "name", ">s2" }, { "password", ">s2" } },
	LOGIN = { 0x0004, { "name", ">s2" }, { "password", ">s2" } },
	GUEST = { 0x0005, { "device", ">s2" }, { "credential", ">s2" } },
	LOGIN_OK = { 0x0006, { "version", ">I2" }, { "account", ">I8" }, { "epoch", ">I8" }, { "host", ">s2" },
		{ "port", ">I2" }, { "token", ">s2" }, { "c2s", "c32" }, { "s2c", "c32" }, { "encrypted", "B" },
		{ "ticket", ">s2" }, { "credential", ">s2" }, { CANDIDATES } },
	ERROR = { 0x0007, { "code", ">I2" }, { "retry_after_ms", ">I4" }, { "queue_position", ">I4" }, { "text", ">s2" } },
	ENTER = { 0x0010, { "version", ">I2" }, { "account", ">I8" }, { "token", ">s2" } },
	ENTER_OK = { 0x0011, { "account", ">I8" }, { "epoch", ">I8" }, { "name", ">s2" }, { "x", ">i4" }, { "y", ">i4" },
		{ "logins", ">I4" } },
	KICK = { 0x0012, { "code", ">I2" }, { "text", ">s2" } },
	LOGOUT = { 0x0013 },
	BYE = { 0x0014 },
	PING = { 0x0015, { "n", ">I4" } },
	PONG = { 0x0016, { "n", ">I4" } },
	TICKET = { 0x0018, { "ticket", ">s2" } },
	REDIRECT = { 0x0017, { "host", ">s2" }, { "port", ">I2" }, { "token", ">s2" }, { "c2s", "c32" }, { "s2c", "c32" },
		{ "encrypted", "B" } },
	-- RESUME (0x0019): the first clear frame of a game connection after a
	-- close without KICK; answered like ENTER (docs/protocol.md section 6.1).
	RESUME = { 0x0019, { "version", ">I2" }, { "account", ">I8" }, { "ticket", ">s2" }, { "nonce", "c16" },
		{ "proof", "c32" } },
	-- GATES (0x001A): the live gates, sent after ENTER_OK and when they
	-- change, so a client resumes at one that is up (section 6.1).
	GATES = { 0x001A, { CANDIDATES } },
	MOVE = { 0x0100, { "x", ">i4" }, { "y", ">i4" } },
	MOVED = { 0x0101, { "x", ">i4" }, { "y", ">i4" } },
	SAY = { 0x0102, { "text", ">s2" } },
	CHAT = { 0x0103, { "account", ">I8" }, { "name", ">s2" }, { "text", ">s2" } },
	-- The world (docs/protocol.md section 6.2; lualib/game/cell.lua)
	WALK = { 0x0104, { "x", ">f" }, { "y", ">f" }, { "dir", ">f" } },
	WORLD = { 0x0105, { "space", ">s2" }, { "width", ">f" }, { "height", ">f" }, { "radius", ">f" }, { "x", ">f" },
		{ "y", ">f" }, { "dir", ">f" } },
	AOI = { 0x0106, { "records", ">s2" } },
	PROP = { 0x0107, { "subject", ">I8" }, { "scope", "B" }, { "key", ">s2" }, { "value", ">s2" } },
	SET_PROP = { 0x0108, { "scope", "B" }, { "key", ">s2" }, { "value", ">s2" } },
	REFUSED = { 0x0109, { "reason", "B" }, { "x", ">f" }, { "y", ">f" }, { "text", ">s2" } },
	WHERE = { 0x010A },
	HERE = { 0x010B, { "seq", ">I4" }, { "applied", ">I4" }, { "x", ">f" }, { "y", ">f" }, { "dir", ">f" } },
}

-- REFUSED.reason: why a world request was not applied (the strings are
-- game.space's / shoal.aoi's refusal reasons). Never renumber.
proto.refusals = {
	["not a number"] = 1,
	["out of bounds"] = 2,
	["too fast"] = 3,
	["malformed"] = 4,
	["unknown entity"] = 5,
	["queue full"] = 6,
	["bad property"] = 7,
	["no space"] = 8,
}
proto.WORLD_FIRST, proto.WORLD_LAST = 0x0104, 0x011F -- the ids game/cell.lua serves

proto.ids = {}
local by_id = {}
for name, m in pairs(MESSAGES) do
	proto.ids[name] = m[1]
	by_id[m[1]] = name
end
proto.names = by_id

local spack, sunpack = string.pack, string.unpack
local CAND = ">s2I2BI4" -- host, port, healthy, online

-- The body of message `name` from its fields in order (values, not a
-- table). Raises on a programmer error (a wrong type, a string over 65535).
function proto.encode(name, ...)
	local m = assert(MESSAGES[name], name)
	local parts = { spack(">I2", m[1]) }
	for i = 2, #m do
		local v = select(i - 1, ...)
		if m[i][1] == CANDIDATES then
			local list = v or {}
			local n = math.min(#list, 255)
			parts[#parts + 1] = spack("B", n)
			for j = 1, n do
				local c = list[j]
				parts[#parts + 1] = spack(CAND, c.host, c.port, c.healthy and 1 or 0, math.min(c.online or 0,
					0xffffffff))
			end
		else
			parts[#parts + 1] = spack(m[i][2], v)
		end
	end
	return table.concat(parts)
end

local function decode_fields(m, body)
	local pos, out = 3, {}
	for i = 2, #m do
		local f = m[i]
		if f[1] == CANDIDATES then
			local n
			n, pos = sunpack("B", body, pos)
			local list = {}
			for j = 1, n do
				local c = {}
				c.host, c.port, c.healthy, c.online, pos = sunpack(CAND, body, pos)
				c.healthy = c.healthy ~= 0
				list[j] = c
			end
			out.candidates = list
		else
			out[f[1]], pos = sunpack(f[2], body, pos)
		end
	end
	if pos ~= #body + 1 then
		error("bytes left over")
	end
	return out
end

-- name, fields | nil, why. Client bytes never raise out of here.
function proto.decode(body)
	if type(body) ~= "string" or #body < 2 then
		return nil, "a message shorter than its id"
	end
	local id = sunpack(">I2", body)
	local name = by_id[id]
	if name == nil then
		return nil, string.format("unknown message id 0x%04x", id), id
	end
	local ok, fields = pcall(decode_fields, MESSAGES[name], body)
	if not ok then
		return nil, string.format("malformed %s", name), id
	end
	return name, fields
end

-- The id of a body (nil when shorter than 2 bytes) and its payload after it.
function proto.id_of(body)
	if #body < 2 then
		return nil
	end
	return sunpack(">I2", body), body:sub(3)
end

function proto.error(code, text, retry_ms)
	return proto.encode("ERROR", code, retry_ms or 0, 0, text or proto.code_names[code] or "")
end

-- ---- validation of names and passwords (docs/protocol.md section 3)

function proto.valid_name(s)
	return #s >= 3 and #s <= 32 and s:match("^[A-Za-z0-9][A-Za-z0-9_.%-]*$") ~= nil
end

function proto.valid_password(s)
	return #s >= 8 and #s <= 128 and not s:find("[%z\1-\31\127]")
end

return proto
