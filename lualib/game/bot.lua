-- game/bot.lua - a scriptable game client in Lua (docs/protocol.md), for
-- tests and tools running inside a node: the same path as any client, over
-- real sockets.
--
--   local bot = require "game.bot"
--   local ok, code = bot.login{host = "127.0.0.1", port = 7100, pin = PUB, name = "alice",
--                              password = "secret123", register = true}   -- LOGIN_OK fields | nil, code, text
--   local g = assert(bot.enter(ok))            -- ENTER, ENTER_OK: g.entered
--   g:move(1, 2)  g:say("hi")  g:ping(7)      -- replies, or nil, code
--   local name, fields = g:recv([ms])          -- the next message (nil, "timeout" / "closed")
--   g2 = g:follow(g:expect("REDIRECT"))      -- moved to another baseapp
--   g:logout()  g:close()
--
-- Every wait is bounded (opts.timeout_ms, default 5000).

local crypto = require "shoal.crypto"
local socket = require "shoal.socket"
local proto = require "game.proto"
local login = require "game.login"

local bot = {}
local conn = {}
conn.__index = conn

local function read_frame(id, ms)
	local head, err = socket.read(id, 2, ms)
	if not head then
		return nil, err
	end
	local n = string.unpack(">I2", head)
	if n == 0 then
		return ""
	end
	return socket.read(id, n, ms)
end

local function write_frame(id, body)
	return socket.write(id, string.pack(">s2", body))
end

-- The answer of a login port: LOGIN_OK fields | nil, code, text.
function bot.login(o)
	local ms = o.timeout_ms or 5000
	local id, err = socket.connect(o.host, o.port, ms)
	if not id then
		return nil, "connect", err
	end
	local cpriv = crypto.x25519_keypair()
	write_frame(id, proto.encode("HELLO", proto.VERSION, crypto.x25519_public(cpriv)))
	local body, why = read_frame(id, ms)
	local name, f = proto.decode(body or "")
	if name ~= "WELCOME" then
		socket.close(id)
		if name == "ERROR" then
			return nil, f.code, f.text, f.retry_after_ms
		end
		return nil, "protocol", why or "no WELCOME"
	end
	local c2s, s2c = login.client_keys(cpriv, o.pin, f.public, f.nonce)
	local tx, rx = crypto.sealer(c2s), crypto.opener(s2c)
	local req
	if o.device then
		req = proto.encode("GUEST", o.device, o.credential or "")
	else
		req = proto.encode(o.register and "REGISTER" or "LOGIN", o.name, o.password)
	end
	write_frame(id, tx:seal(req))
	body, why = read_frame(id, ms)
	socket.close(id)
	local plain = body and rx:open(body)
	name, f = proto.decode(plain or "")
	if name == "LOGIN_OK" then
		return f
	elseif name == "ERROR" then
		return nil, f.code, f.text, f.retry_after_ms
	end
	return nil, "protocol", why or "no answer"
end

-- A game connection for a LOGIN_OK: -> conn | nil, code, text
function bot.enter(ok, o)
	o = o or {}
	local ms = o.timeout_ms or 5000
	local id, err = socket.connect(o.host or ok.host, o.port or ok.port, ms)
	if not id then
		return nil, "connect", err
	end
	local g = setmetatable({ id = id, ms = ms, ok = ok, pushed = {} }, conn)
	write_frame(id, proto.encode("ENTER", proto.VERSION, ok.account, o.token or ok.token))
	if ok.encrypted == 1 then
		g.tx, g.rx = crypto.sealer(ok.c2s), crypto.opener(ok.s2c)
	end
	local body, why = read_frame(id, ms)
	if body == nil then
		socket.close(id)
		return nil, "closed", why
	end
	local plain = g.rx and g.rx:open(body) or body -- a refused ENTER is answered in clear
	local name, f = proto.decode(plain)
	if name == "ENTER_OK" then
		g.entered = f
		return g
	end
	socket.close(id)
	if name == "ERROR" then
		return nil, f.code, f.text
	end
	return nil, "protocol", "no ENTER_OK"
end

function conn:send(body)
	return write_frame(self.id, self.tx and self.tx:seal(body) or body)
end

-- The next message: name, fields | nil, "timeout" / "closed" / "forged".
-- TICKETs are kept (self.ticket, the latest resume ticket) and GATES
-- (self.gates, the live gates), not returned.
function conn:recv(ms)
	while true do
		local body, why = read_frame(self.id, ms or self.ms)
		if body == nil then
			return nil, why
		end
		if self.rx then
			body = self.rx:open(body)
			if body == nil then
				return nil, "forged"
			end
		end
		local name, f = proto.decode(body)
		if name == "TICKET" then
			self.ticket = f.ticket
		elseif name == "GATES" then
			self.gates = f.candidates
		else
			return name, f
		end
	end
end

-- Waits for message `want` (CHATs meanwhile are kept in self.pushed):
-- fields | nil, code (an ERROR's or KICK's code, or the reason)
function conn:expect(want, ms)
	while true do
		local name, f = self:recv(ms)
		if name == want then
			return f
		elseif name == "CHAT" then
			self.pushed[#self.pushed + 1] = f
		elseif name == "ERROR" or name == "KICK" then
			return nil, f.code, name
		else
			return nil, name and ("unexpected " .. name) or f
		end
	end
end

function conn:ping(n)
	self:send(proto.encode("PING", n))
	local f, code = self:expect("PONG")
	return f and f.n, code
end

function conn:move(x, y)
	self:send(proto.encode("MOVE", x, y))
	local f, code = self:expect("MOVED")
	if not f then
		return nil, code
	end
	return f.x, f.y
end

function conn:say(text)
	self:send(proto.encode("SAY", text))
end

function conn:chat(ms)
	if #self.pushed > 0 then
		return table.remove(self.pushed, 1)
	end
	return self:expect("CHAT", ms)
end

-- After a REDIRECT (the fields of conn:expect("REDIRECT")): the game
-- connection at the new baseapp -> conn | nil, code
function conn:follow(r)
	socket.close(self.id)
	local ok = { account = self.ok.account, host = r.host, port = r.port, token = r.token, c2s = r.c2s,
		s2c = r.s2c, encrypted = r.encrypted }
	return bot.enter(ok, { timeout_ms = self.ms })
end

function conn:logout()
	self:send(proto.encode("LOGOUT"))
	local f, code = self:expect("BYE")
	socket.close(self.id)
	return f ~= nil, code
end

function conn:close()
	socket.close(self.id)
end

return bot
