-- shoal/gateserver.lua - templates for the two Lua sides of a gate
-- (cservice/gate.c; docs/gate.md): the watchdog that owns the gate, and the
-- agents that serve its connections.
--
-- Watchdog (one per gate): launches the gate, gives every new connection an
-- agent, tells agents when their connection closes.
--
--   local gateserver = require "shoal.gateserver"
--   shoal.start(function()
--       gateserver.watchdog {
--           gate = { host = "0.0.0.0", port = 8888, maxconn = 1000 },  -- gate.c arguments
--           agent = "my_agent",   -- a new agent service per connection (it exits on close)
--       }
--   end)
--
--   conf.agent      service name (one new agent per connection), or a
--                   function(conn, addr) -> handle [, owned] choosing one
--                   (shared agents, pools); nil: the watchdog reads the
--                   frames itself through conf.message
--   conf.open(conn, addr)      optional; return false to refuse (kick) it
--   conf.close(conn, reason)   optional
--   conf.message(conn, msg)    frames of connections without an agent
--   conf.listen(addr)          optional; where the gate listens
--   conf.command               optional table: more "lua" commands
--   Returns the gate's handle (also in gateserver.gate_handle; its listen
--   address arrives later in gateserver.address).
--
-- Agent (serves one or many connections):
--
--   gateserver.agent {
--       open = function(conn, addr) end,         -- optional
--       message = function(conn, msg) gateserver.write(conn, msg) end,
--       close = function(conn, reason) end,      -- optional
--       command = { ... },                       -- optional: more "lua" commands
--   }
--
-- message() runs for one frame of a connection at a time, in order: frames
-- that arrive while it waits (a call to a logic service) are queued, up to
-- handler.max_queue frames (default 1024) and handler.max_queue_bytes
-- (default 1 MiB). A client past either is kicked, once, with one log line,
-- and its queued and later frames are dropped. Set handler.concurrent =
-- true to run every frame at once instead. close() runs after the frames
-- still queued. An agent started per connection (owned) exits after
-- close() has run.
--
--   gateserver.write(conn, data)          a frame to a client of this node (true | false, err)
--   gateserver.send(gate, conn, data)     a frame to any client of any gate
--   gateserver.kick(conn [, gate])        close a client's connection
--   gateserver.gate(conn)                 the gate of a connection of this agent
--   gateserver.cipher(gate, conn, c2s, s2c [, ack])
--   gateserver.encrypt(gate, conn, c2s, s2c [, timeout_ms [, ack]]) -> true | false, code, text
--                                         switch a connection to AEAD frames
--                                         (keys of 32 bytes; ack: its last
--                                         clear frame, written by the gate
--                                         at the switch; docs/gate.md)
--
-- Frames arrive as PTYPE_CLIENT messages whose session is -conn; they are
-- handed to message() as strings. A connection id is its socket id, and the
-- gate marks the socket framed: write and send on the gate's node put the
-- frame (header and body in one buffer) on the socket at once, with no hop
-- through the gate (socketdriver.sendframe). So frames reach a client in
-- the order they were written, whichever local services wrote them. A
-- service on another node sends through the gate, as PTYPE_CLIENT with the
-- connection id in the first 4 bytes; its frames keep their own order.

local shoal = require "shoal"
local driver = require "shoal.socketdriver"
local crypto = require "shoal.crypto"

local string_pack = string.pack
local sendframe = driver.sendframe
local PTYPE_CLIENT = shoal.PTYPE_CLIENT
local PTYPE_TEXT = shoal.PTYPE_TEXT

local gateserver = {}

-- CLIENT frames arrive with session -conn. The watchdog and the agent each
-- register their own handler, on_frame(conn, source, msg); this one only
-- reports frames that come before either.
local function frame_dispatcher(on_frame)
	return function(session, source, msg)
		if session < 0 then
			return on_frame(-session, source, msg)
		end
		shoal.warn(string.format("gateserver: client frame from :%08x without a connection (session %d)", source,
			session))
	end
end

local function register_client_protocol(on_frame)
	shoal.register_protocol {
		name = "client",
		id = PTYPE_CLIENT,
		unpack = shoal.tostring,
		dispatch = frame_dispatcher(on_frame),
	}
end

register_client_protocol(function() end)

local function text(gate, line)
	return shoal.sendraw(gate, PTYPE_TEXT, 0, line)
end

local NODE_SHIFT = shoal.HANDLE_NODE_SHIFT
local my_node = shoal.self() >> NODE_SHIFT

-- A frame to conn on gate. Returns true, or false and the reason.
function gateserver.send(gate, conn, data)
	if gate >> NODE_SHIFT == my_node then
		return sendframe(conn, data)
	end
	local ok, err = shoal.sendraw(gate, PTYPE_CLIENT, 0, string_pack(">I4", conn) .. data)
	if not ok then
		return false, err
	end
	return true
end

-- Builds gate.c's argument string from a table.
local function gate_args(t, watchdog)
	local parts = { "watchdog=" .. shoal.address(watchdog) }
	for _, k in ipairs { "host", "port", "maxconn", "maxpacket", "header", "idle", "nodelay", "backlog" } do
		local v = t[k]
		if v ~= nil then
			if type(v) == "boolean" then
				v = v and 1 or 0
			end
			parts[#parts + 1] = k .. "=" .. tostring(v)
		end
	end
	return table.concat(parts, " ")
end

-- ---- the watchdog ----

function gateserver.watchdog(conf)
	assert(type(conf) == "table", "gateserver.watchdog: a configuration table is required")
	local gate
	local conns = {} -- conn -> { addr =, agent =, owned = }
	local ev = {}

	local function kick(conn)
		text(gate, "kick " .. conn)
	end

	local function choose_agent(conn, addr)
		local a = conf.agent
		if type(a) == "string" then
			return shoal.newservice(a), true
		elseif type(a) == "function" then
			return a(conn, addr)
		end
		return nil
	end

	function ev.open(conn, addr)
		local c = { addr = addr }
		conns[conn] = c
		if conf.open and conf.open(conn, addr) == false then
			conns[conn] = nil
			kick(conn)
			return
		end
		local ok, agent, owned = pcall(choose_agent, conn, addr)
		if not ok then
			shoal.error(string.format("gateserver: no agent for connection %d (%s): %s", conn, addr, agent))
			conns[conn] = nil
			kick(conn)
			return
		end
		if agent == nil then
			if conns[conn] == c then
				text(gate, "accept " .. conn)
			end
			return
		end
		c.agent, c.owned = agent, owned and true or false
		local opened, err = pcall(shoal.call, agent, "lua", "gate_open", gate, conn, addr, c.owned)
		if not opened then
			shoal.error(string.format("gateserver: agent :%08x refused connection %d: %s", agent, conn, err))
			if c.owned then
				shoal.kill(agent)
			end
			if conns[conn] == c then
				conns[conn] = nil
				kick(conn)
			end
			return
		end
		if conns[conn] ~= c then
			-- The client left while its agent was being made.
			shoal.send(agent, "lua", "gate_close", conn, c.reason or "closed")
			return
		end
		text(gate, string.format("forward %d :%08x", conn, agent))
	end

	function ev.close(conn, reason)
		local c = conns[conn]
		if c == nil then
			return
		end
		conns[conn] = nil
		c.reason = reason
		if c.agent then
			shoal.send(c.agent, "lua", "gate_close", conn, reason)
		end
		if conf.close then
			conf.close(conn, reason)
		end
	end

	function ev.listen(addr)
		gateserver.address = addr
		if conf.listen then
			conf.listen(addr)
		end
	end

	shoal.dispatch("text", function(_, source, line)
		if source ~= gate then
			shoal.warn(string.format("gateserver: text from :%08x ignored: %s", source, line))
			return
		end
		local cmd, a, b = line:match("^(%S+) (%S+) ?(.*)$")
		local f = ev[cmd]
		if f == nil then
			shoal.warn("gateserver: unknown gate event: " .. line)
			return
		end
		if cmd == "listen" then
			f(a)
		else
			f(math.tointeger(a), b)
		end
	end)

	register_client_protocol(function(conn, source, msg)
		if source == gate and conf.message then
			conf.message(conn, msg)
		end
	end)

	if conf.command then
		shoal.dispatch_commands(conf.command)
	end

	-- At shutdown the gate gets its own EXIT and closes everything. If the
	-- watchdog goes first, the gate keeps serving the forwarded connections
	-- and closes new ones (it cannot tell anyone about them).
	gate = shoal.launch("gate", gate_args(conf.gate or {}, shoal.self()))
	gateserver.gate_handle = gate
	return gate
end

-- ---- the agent ----

-- conn -> { gate =, busy =, head =, tail =, bytes =, closed = }
-- for the connections this agent serves: frames waiting while one is
-- handled are [head+1 .. tail] of the same table, bytes their size. A
-- connection kicked for its queue has gate = false.
local my_conns = {}
local default_gate

-- A frame to a client of this node's gates (the agent's own, or any).
function gateserver.write(conn, data)
	return sendframe(conn, data)
end

function gateserver.kick(conn, gate)
	local c = my_conns[conn]
	gate = gate or c and c.gate or default_gate
	if gate then
		text(gate, "kick " .. conn)
	end
end

-- Switches conn to the AEAD mode (docs/gate.md, "Encrypted connections"):
-- c2s opens what the client sends, s2c seals what the node writes. ack, if
-- given, is written by the gate as the connection's last clear frame, in
-- the same step as the switch: pass the reply that tells the client to
-- start sealing (its "login ok") here rather than writing it before, so the
-- client's first sealed frame can never reach the gate before the switch.
-- The keys travel in the gate's command and are never logged. Returns true,
-- or false and the reason (the gate's own refusals close the connection,
-- with reason "bad cipher command").
local function cipher_line(what, conn, c2s, s2c, ack)
	assert(math.type(conn) == "integer", what .. ": conn must be an integer")
	assert(type(c2s) == "string" and #c2s == 32 and type(s2c) == "string" and #s2c == 32,
		what .. ": keys of 32 bytes are required")
	assert(ack == nil or type(ack) == "string", what .. ": ack must be a string")
	local line = "cipher " .. conn .. " " .. crypto.tohex(c2s) .. " " .. crypto.tohex(s2c)
	if ack then
		line = line .. " " .. ack
	end
	return line
end

function gateserver.cipher(gate, conn, c2s, s2c, ack)
	local ok, err = text(gate, cipher_line("gateserver.cipher", conn, c2s, s2c, ack))
	if not ok then
		return false, err
	end
	return true
end

-- The same switch as a request: returns once the gate has switched conn
-- (true), or false, code, text (the connection is gone, the command was
-- refused, or no answer within timeout ms). After true, every frame
-- anyone writes to conn is sealed: the caller may write its own "switched"
-- reply sealed, and nothing it writes can overtake the switch.
function gateserver.encrypt(gate, conn, c2s, s2c, timeout, ack)
	local line = cipher_line("gateserver.encrypt", conn, c2s, s2c, ack)
	local ok, code, why = shoal.trycalltimeout(timeout or 1000, gate, "text", line)
	if not ok then
		return false, code, why
	end
	return true
end

function gateserver.gate(conn)
	local c = my_conns[conn]
	return c and c.gate or nil
end

function gateserver.agent(handler)
	assert(type(handler) == "table" and handler.message, "gateserver.agent: a handler with message() is required")
	local owned = false
	local command = {}
	local max_queue = handler.max_queue or 1024
	local max_queue_bytes = handler.max_queue_bytes or 1024 * 1024
	local concurrent = handler.concurrent
	local message = handler.message
	local traceback = shoal.traceback

	local function run(f, ...)
		local ok, err = xpcall(f, traceback, ...)
		if not ok then
			shoal.error("gateserver: agent handler failed: " .. tostring(err))
		end
	end

	local function closed(conn, reason)
		if handler.close then
			run(handler.close, conn, reason)
		end
		if owned and next(my_conns) == nil then
			shoal.exit()
		end
	end

	function command.gate_open(gate, conn, addr, is_owned)
		my_conns[conn] = { gate = gate, busy = false, head = 0, tail = 0, bytes = 0 }
		default_gate = gate
		owned = owned or is_owned
		if handler.open then
			handler.open(conn, addr)
		end
	end

	function command.gate_close(conn, reason)
		local c = my_conns[conn]
		if c == nil then
			return
		end
		my_conns[conn] = nil
		if c.busy then
			c.closed = reason or "closed" -- after the frames still queued
			return
		end
		closed(conn, reason)
	end

	if handler.command then
		setmetatable(command, { __index = handler.command })
	end
	shoal.dispatch_commands(command)

	-- A client over its queue limits is kicked once; what it queued and
	-- what it sends until the gate has closed it are dropped: with gate
	-- false its frames match no gate, so the per-frame path stays one
	-- comparison.
	local function kick_queue(conn, c, size)
		shoal.warn(string.format("gateserver: connection %d kicked: %d frames (%d bytes) wait for its handler, "
			.. "one more (%d bytes) is over the limit of %d frames or %d bytes", conn, c.tail - c.head, c.bytes,
			size, max_queue, max_queue_bytes))
		gateserver.kick(conn)
		c.gate = false
		for i = c.head + 1, c.tail do
			c[i] = nil
		end
		c.head, c.tail, c.bytes = 0, 0, 0
	end

	-- Frames of one connection are handled one at a time, in order: a frame
	-- that arrives while the previous one waits (on a call) is queued. This
	-- runs for every frame, so it allocates nothing on the way.
	register_client_protocol(function(conn, source, msg)
		local c = my_conns[conn]
		if c == nil or c.gate ~= source then
			return -- not (or no longer) ours
		end
		if concurrent then
			return message(conn, msg)
		end
		if c.busy then
			local size = #msg
			if c.tail - c.head >= max_queue or c.bytes + size > max_queue_bytes then
				kick_queue(conn, c, size)
				return
			end
			c.tail = c.tail + 1
			c[c.tail] = msg
			c.bytes = c.bytes + size
			return
		end
		c.busy = true
		run(message, conn, msg)
		while c.head < c.tail do
			c.head = c.head + 1
			local m = c[c.head]
			c[c.head] = nil
			c.bytes = c.bytes - #m
			if c.closed == nil then
				run(message, conn, m)
			end
		end
		c.head, c.tail, c.busy = 0, 0, false
		if c.closed then
			closed(conn, c.closed)
		end
	end)
end

return gateserver
