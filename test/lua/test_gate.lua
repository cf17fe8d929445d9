-- test_gate: the gate's protocol (cservice/gate.c), driven from inside a
-- node. This service is the gate's watchdog (it gets the TEXT events and,
-- when it accepts a connection, the CLIENT frames) and also its client
-- (shoal.socket). Runs with the log in SHOAL_LOGFILE (see CMakeLists.txt)
-- so the gate's log lines can be checked.
local shoal = require "shoal"
local socket = require "shoal.socket"
local t = require "testlib"
-- Loaded before this test's own "client" protocol, which replaces the
-- placeholder gateserver registers at load (only gateserver.encrypt is used).
local gateserver = require "shoal.gateserver"


local events = {} -- TEXT lines from gates, oldest first: { source =, line = }
local frames = {} -- CLIENT frames: { session =, source =, msg = }
local current -- the gate of the running case: events and frames of others are ignored

shoal.register_protocol {
	name = "client",
	id = shoal.PTYPE_CLIENT,
	unpack = shoal.tostring,
	dispatch = function(session, source, msg)
		if source == current then
			frames[#frames + 1] = { session = session, source = source, msg = msg }
		end
	end,
}

-- Waits for (and takes) the first event matching the Lua pattern; returns
-- its captures.
local function wait_event(pattern, ms)
	local found
	t.wait_until(function()
		for i, e in ipairs(events) do
			local caps = e.source == current and table.pack(e.line:match(pattern)) or {}
			if caps[1] ~= nil then
				table.remove(events, i)
				found = caps
				return true
			end
		end
	end, ms or 3000, 5, "gate event /" .. pattern .. "/")
	return table.unpack(found, 1, found.n)
end

local function wait_frame(ms)
	t.wait_until(function()
		return frames[1]
	end, ms or 3000, 5, "a client frame")
	return table.remove(frames, 1)
end

local log = t.logfile()
local wait_log = log.wait

local function me()
	return shoal.address(shoal.self())
end

local function launch(extra)
	events, frames = {}, {}
	local gate = shoal.launch("gate", "watchdog=" .. me() .. " host=127.0.0.1 port=0 " .. (extra or ""))
	current = gate
	local host, port = wait_event("^listen ([%d.]+):(%d+)$")
	return gate, host, math.tointeger(port)
end

local function command(gate, line)
	assert(shoal.sendraw(gate, shoal.PTYPE_TEXT, 0, line))
end

local function write(gate, conn, body)
	return shoal.sendraw(gate, shoal.PTYPE_CLIENT, 0, string.pack(">I4", conn) .. body)
end

-- Connects a client and returns (socket id, conn id, addr).
local function client(host, port)
	local id = assert(socket.connect(host, port, 2000))
	local conn, addr = wait_event("^open (%d+) (%S+)$")
	return id, math.tointeger(conn), addr
end

-- A client whose frames the gate sends to this service (the watchdog).
local function accepted_client(gate, host, port)
	local id, conn = client(host, port)
	command(gate, "accept " .. conn)
	return id, conn
end

local function read_frame(id)
	local h, err = socket.read(id, 2, 2000)
	t.ok(h, "frame header: " .. tostring(err))
	local n = string.unpack(">I2", h)
	if n == 0 then
		return ""
	end
	return assert(socket.read(id, n, 2000))
end

local function assert_closed(id)
	local data, err = socket.read(id, nil, 2000)
	t.eq(data, nil, "read on a closed connection")
	t.ok(err ~= "timeout", "the gate closed the client (got " .. tostring(err) .. ")")
	socket.close(id)
end

-- Waits until no socket of the node belongs to gate (listener included).
local function wait_no_sockets(gate)
	t.wait_until(function()
		for _, info in ipairs(socket.info()) do
			if info.owner == gate then
				return false
			end
		end
		return true
	end, 2000, 10, "the sockets of " .. shoal.address(gate) .. " closed")
end

local cases = {}

function cases.bad_arguments_refused()
	local self = me()
	local bad = {
		"",
		"watchdog=.nosuchservice port=0",
		"watchdog=" .. self .. " header=3",
		"watchdog=" .. self .. " maxpacket=70000",
		"watchdog=" .. self .. " header=4 maxpacket=70000000",
		"watchdog=" .. self .. " bogus=1",
		"watchdog=" .. self .. " port=http",
		"watchdog=" .. self .. " maxconn=0",
		"watchdog=" .. self .. " noequals",
	}
	for _, args in ipairs(bad) do
		t.raises("cannot launch gate", shoal.launch, "gate", args)
	end
	wait_log("gate: watchdog=HANDLE|.name is required")
	wait_log("gate: header=3: expected 2 or 4")
	wait_log("gate: maxpacket=70000 does not fit a 2-byte header (at most 65535)")
	wait_log("gate: unknown argument 'bogus'")
	-- a port that is taken
	local gate, host, port = launch()
	t.raises("cannot launch gate", shoal.launch, "gate", string.format("watchdog=%s host=%s port=%d", self, host, port))
	wait_log("gate: cannot listen on 127.0.0.1:" .. port)
	shoal.kill(gate)
end

function cases.connection_held_until_accept()
	local gate, host, port = launch()
	local id, conn, addr = client(host, port)
	t.ok(addr:match("^127%.0%.0%.1:%d+$"), "peer address " .. addr)
	t.ok(conn >= 16, "connection ids start at 16 (got " .. conn .. ")")
	socket.write(id, string.pack(">s2", "early"))
	shoal.sleep(100)
	t.eq(#frames, 0, "frames before accept") -- not read yet
	command(gate, "accept " .. conn)
	local f = wait_frame()
	t.eq(f.session, -conn, "session = -conn")
	t.eq(f.source, gate, "source = the gate")
	t.eq(f.msg, "early", "body")
	socket.write(id, string.pack(">s2", "") .. string.pack(">s2", "two"))
	t.eq(wait_frame().msg, "", "empty frame")
	t.eq(wait_frame().msg, "two", "second frame")
	socket.close(id)
	t.eq(wait_event("^close " .. conn .. " (.*)$"), "closed by the client", "close reason")
	shoal.kill(gate)
end

function cases.held_frames_survive_an_early_close()
	local gate, host, port = launch()
	local id, conn = client(host, port)
	socket.write(id, string.pack(">s2", "one") .. string.pack(">s2", "") .. string.pack(">s2", "three"))
	socket.shutdown(id) -- the client is done before the watchdog answered
	shoal.sleep(100)
	for _, e in ipairs(events) do
		t.ok(e.source ~= gate or not e.line:match("^close"), "no close before the answer")
	end
	command(gate, string.format("forward %d %s", conn, me()))
	t.eq(wait_frame().msg, "one", "held frame 1")
	t.eq(wait_frame().msg, "", "held frame 2")
	t.eq(wait_frame().msg, "three", "held frame 3")
	t.eq(wait_event("^close " .. conn .. " (.*)$"), "closed by the client", "then the close")
	socket.close(id)
	shoal.kill(gate)
end

function cases.too_much_before_accept()
	local gate, host, port = launch("maxpacket=1000")
	local id, conn = client(host, port)
	local chunk = string.pack(">s2", string.rep("h", 1000))
	for _ = 1, 70 do -- 70 KB > maxpacket + 64 KiB, never answered
		socket.write(id, chunk)
	end
	t.eq(wait_event("^close " .. conn .. " (.*)$"), "too much data before accept", "close reason")
	wait_log("bytes sent before the watchdog answered")
	assert_closed(id)
	shoal.kill(gate)
end

function cases.write_to_client()
	local gate, host, port = launch()
	local id, conn = accepted_client(gate, host, port)
	write(gate, conn, "hello")
	t.eq(read_frame(id), "hello", "frame written by the gate")
	write(gate, conn, "")
	t.eq(read_frame(id), "", "empty frame")
	local big = string.rep("0123456789", 6553) .. "01234" -- 65535 bytes: the most a 2-byte header holds
	write(gate, conn, big)
	t.eq(read_frame(id), big, "largest frame")
	write(gate, conn, big .. "x") -- does not fit the header: dropped, logged
	wait_log("bytes from " .. me() .. " for connection " .. conn .. " does not fit a 2-byte header, dropped")
	write(gate, 999999, "nobody") -- unknown connection: dropped
	assert(shoal.sendraw(gate, shoal.PTYPE_CLIENT, 0, "ab")) -- no connection id: dropped, logged
	wait_log("without a connection id (session 0, 2 bytes), dropped")
	write(gate, conn, "still fine")
	t.eq(read_frame(id), "still fine", "after the bad writes")
	socket.close(id)
	shoal.kill(gate)
end

-- Services of the gate's node write frames to the socket themselves
-- (socketdriver.sendframe, behind gateserver.write/send).
function cases.direct_frames()
	local driver = require "shoal.socketdriver"
	local gate, host, port = launch()
	local id, conn = accepted_client(gate, host, port)
	t.eq(driver.sendframe(conn, "direct"), true, "sendframe")
	t.eq(read_frame(id), "direct", "frame written by this service")
	local big = string.rep("0123456789", 6553) .. "01234"
	t.eq(driver.sendframe(conn, big), true, "65535 bytes")
	t.eq(read_frame(id), big, "largest frame")
	local ok, err = driver.sendframe(conn, big .. "x")
	t.eq(ok, false, "65536 bytes refused")
	t.eq(err, "a frame of 65536 bytes is too long for the connection's length header", "error")
	-- this service's own client socket is not framed: no stray header in it
	ok, err = driver.sendframe(id, "x")
	t.eq(ok, false, "a socket that is not a gate connection")
	t.eq(err, "no client connection " .. id .. " (closed, or not a gate's)", "error")
	-- frames written through the gate and straight keep the writer's order
	write(gate, conn, "via gate")
	t.eq(read_frame(id), "via gate", "through the gate")
	t.eq(driver.sendframe(conn, "after"), true, "then straight")
	t.eq(read_frame(id), "after", "in order")
	socket.close(id)
	t.eq(wait_event("^close " .. conn .. " (.*)$"), "closed by the client", "closed")
	t.wait_until(function()
		for _, info in ipairs(socket.info()) do
			if info.id == conn then
				return false
			end
		end
		return true
	end, 2000, 10, "socket " .. conn .. " closed")
	ok, err = driver.sendframe(conn, "late")
	t.eq(ok, false, "a closed connection")
	t.eq(err, "no client connection " .. conn .. " (closed, or not a gate's)", "error")
	shoal.kill(gate)
end

function cases.header4()
	local gate, host, port = launch("header=4 maxpacket=200000")
	local id, conn = accepted_client(gate, host, port)
	local big = string.rep("z", 150000)
	socket.write(id, string.pack(">s4", big))
	t.eq(wait_frame().msg, big, "150 KB frame in")
	write(gate, conn, big)
	local h = assert(socket.read(id, 4, 2000))
	t.eq(string.unpack(">I4", h), 150000, "4-byte header out")
	t.eq(assert(socket.read(id, 150000, 2000)), big, "150 KB frame out")
	t.eq(require("shoal.socketdriver").sendframe(conn, big), true, "sendframe, 4-byte header")
	h = assert(socket.read(id, 4, 2000))
	t.eq(string.unpack(">I4", h), 150000, "4-byte header written by sendframe")
	t.eq(assert(socket.read(id, 150000, 2000)), big, "150 KB frame out")
	socket.close(id)
	shoal.kill(gate)
end

function cases.forward_kick_and_dead_agent()
	local gate, host, port = launch()
	local id, conn = client(host, port)
	command(gate, string.format("forward %d %d", conn, shoal.self())) -- decimal handle
	socket.write(id, string.pack(">s2", "to me"))
	t.eq(wait_frame().msg, "to me", "forwarded frame")
	command(gate, "kick " .. conn)
	t.eq(wait_event("^close " .. conn .. " (.*)$"), "kicked", "close reason")
	assert_closed(id)
	-- an agent that dies: the next frame closes the connection
	local id2, conn2 = client(host, port)
	local agent = shoal.newservice("trivial_svc")
	command(gate, string.format("forward %d %s", conn2, shoal.address(agent)))
	shoal.kill(agent)
	socket.write(id2, string.pack(">s2", "anyone?"))
	t.eq(wait_event("^close " .. conn2 .. " (.*)$"), "agent gone", "close reason")
	wait_log("closed: its agent " .. shoal.address(agent) .. " is gone")
	assert_closed(id2)
	-- forward to a name
	shoal.name(".test_gate_me")
	local id3, conn3 = client(host, port)
	command(gate, string.format("forward %d .test_gate_me", conn3))
	socket.write(id3, string.pack(">s2", "by name"))
	t.eq(wait_frame().msg, "by name", "forwarded by name")
	command(gate, string.format("forward %d .no_such_name", conn3))
	t.eq(wait_event("^close " .. conn3 .. " (.*)$"), "bad agent", "close reason")
	assert_closed(id3)
	shoal.kill(gate)
end

function cases.bad_commands_ignored()
	local gate, host, port = launch()
	local id, conn = client(host, port)
	command(gate, "bogus 1")
	command(gate, "forward")
	command(gate, "forward " .. conn)
	command(gate, "accept " .. conn .. " extra")
	command(gate, "kick notanumber")
	command(gate, "kick 99999")
	command(gate, string.rep("x", 300))
	wait_log("gate: unknown command 'bogus 1' from " .. me() .. ", ignored")
	wait_log("gate: malformed command 'forward " .. conn .. "'")
	wait_log("gate: command of 300 bytes from " .. me() .. " is too long, ignored")
	-- a request to the gate fails at once instead of timing out
	local ms, r = t.timed(shoal.call, gate, "lua", "hello")
	t.eq(r[1], false, "call to the gate")
	t.contains(r[2], "the gate answers no requests", "error")
	t.between(ms, 0, 1000, "elapsed ms")
	-- the connection is untouched
	command(gate, "accept " .. conn)
	socket.write(id, string.pack(">s2", "fine"))
	t.eq(wait_frame().msg, "fine", "frame after bad commands")
	socket.close(id)
	shoal.kill(gate)
end

function cases.oversized_and_truncated()
	local gate, host, port = launch("maxpacket=10")
	local id, conn = accepted_client(gate, host, port)
	socket.write(id, string.pack(">I2", 11) .. "01234567890")
	t.eq(wait_event("^close " .. conn .. " (.*)$"), "oversized frame", "close reason")
	wait_log("closed: oversized frame (header says 11 bytes, maxpacket 10)")
	assert_closed(id)
	local id2, conn2 = client(host, port)
	command(gate, "accept " .. conn2)
	socket.write(id2, string.pack(">I2", 10) .. "0123")
	shoal.sleep(50)
	socket.shutdown(id2)
	t.eq(wait_event("^close " .. conn2 .. " (.*)$"), "truncated frame", "close reason")
	wait_log("closed: truncated frame (6 bytes of an unfinished frame)")
	socket.close(id2)
	shoal.kill(gate)
end

function cases.maxconn()
	local gate, host, port = launch("maxconn=2")
	local a, ca = client(host, port)
	local b, cb = client(host, port)
	command(gate, "accept " .. ca)
	command(gate, "accept " .. cb)
	local c = assert(socket.connect(host, port, 2000))
	assert_closed(c)
	wait_log("refused: maxconn 2 reached")
	for _, e in ipairs(events) do
		t.ok(e.source ~= gate or not e.line:match("^open"), "no event for a refused connection: " .. e.line)
	end
	socket.write(a, string.pack(">s2", "a"))
	socket.write(b, string.pack(">s2", "b"))
	local got = { wait_frame().msg, wait_frame().msg }
	table.sort(got)
	t.same(got, { "a", "b" }, "the two open connections work")
	socket.close(a)
	wait_event("^close " .. ca .. " ")
	local d, cd = client(host, port) -- room again
	command(gate, "accept " .. cd)
	socket.write(d, string.pack(">s2", "d"))
	t.eq(wait_frame().msg, "d", "new connection after one left")
	socket.close(b)
	socket.close(d)
	shoal.kill(gate)
end

function cases.idle_timeout()
	local gate, host, port = launch("idle=200")
	local t0 = shoal.now()
	local id, conn = accepted_client(gate, host, port)
	t.eq(wait_event("^close " .. conn .. " (.*)$", 3000), "idle timeout", "close reason")
	t.between(shoal.now() - t0, 190, 1500, "ms to the idle close")
	wait_log("closed: idle for")
	assert_closed(id)
	shoal.kill(gate)
end

function cases.exit_and_kill_close_everything()
	local gate, host, port = launch()
	local id, conn = accepted_client(gate, host, port)
	assert(shoal.sendraw(gate, shoal.PTYPE_SYSTEM, 0, shoal.SYSTEM_EXIT))
	assert_closed(id)
	t.wait_until(function()
		return shoal.stat(gate) == nil
	end, 2000, 10, "the gate exited")
	wait_log("gate: stopping: 1 connections open, 1 served, 0 refused")
	wait_no_sockets(gate)
	-- killed without EXIT: its release closes the sockets
	local gate2, host2, port2 = launch()
	local id2, conn2 = client(host2, port2)
	command(gate2, "accept " .. conn2)
	shoal.kill(gate2)
	assert_closed(id2)
	wait_no_sockets(gate2)
	wait_log("killed: closing its listener and 1 connections")
end

-- The AEAD mode from inside a node (the byte-for-byte client is the e2e
-- test, test/e2e/test_gate_aead.py): the ack is the last clear frame,
-- client frames reach the watchdog opened, every write (relayed by the
-- gate or straight) is sealed, bad cipher commands close their connection
-- and never log the keys.
function cases.cipher_mode()
	local crypto = require "shoal.crypto"
	local driver = require "shoal.socketdriver"
	local gate, host, port = launch()
	local id, conn = accepted_client(gate, host, port)
	socket.write(id, string.pack(">s2", "clear before"))
	t.eq(wait_frame().msg, "clear before", "a clear frame before the switch")
	local c2s, s2c = crypto.random(32), crypto.random(32)
	local tx, rx = crypto.sealer(c2s), crypto.opener(s2c)
	command(gate, "cipher " .. conn .. " " .. crypto.tohex(c2s) .. " " .. crypto.tohex(s2c):upper() .. " ack bytes")
	t.eq(read_frame(id), "ack bytes", "the ack, in clear")
	socket.write(id, string.pack(">s2", tx:seal("sealed one")) .. string.pack(">s2", tx:seal("")))
	t.eq(wait_frame().msg, "sealed one", "opened by the gate")
	t.eq(wait_frame().msg, "", "an empty message: a 24-byte frame")
	write(gate, conn, "relayed") -- not ordered against straight writes: read it first
	local f = read_frame(id)
	t.eq(#f, #"relayed" + crypto.AEAD_OVERHEAD, "sealed size")
	t.eq(rx:open(f), "relayed", "relayed by the gate, sealed")
	t.eq(driver.sendframe(conn, "straight"), true, "sendframe")
	t.eq(rx:open(read_frame(id)), "straight", "written straight, sealed")
	local big = string.rep("x", 65535 - crypto.AEAD_OVERHEAD)
	t.eq(driver.sendframe(conn, big), true, "the largest plaintext")
	t.eq(rx:open(read_frame(id)), big, "largest, sealed")
	local ok, err = driver.sendframe(conn, big .. "x")
	t.eq(ok, false, "one byte more does not fit once sealed")
	t.contains(err, "too long for the connection's length header", "error")
	-- a second cipher command closes the connection
	command(gate, "cipher " .. conn .. " " .. crypto.tohex(c2s) .. " " .. crypto.tohex(s2c))
	t.eq(wait_event("^close " .. conn .. " (.*)$"), "bad cipher command", "second cipher")
	assert_closed(id)
	wait_log("closed: a second cipher command from " .. me())
	-- malformed: short key, bad hex; ack over the header; unknown connection
	local key = crypto.tohex(crypto.random(32))
	for _, bad in ipairs {
		function(c) return "cipher " .. c .. " " .. key .. " " .. key:sub(2) end,
		function(c) return "cipher " .. c .. " " .. key:sub(1, 63) .. "g " .. key end,
		function(c) return "cipher " .. c .. " " .. key .. " " .. key .. "x" end,
		function(c) return "cipher " .. c .. " " .. key .. " " .. key .. " " .. string.rep("a", 65536) end,
	} do
		local id2, conn2 = accepted_client(gate, host, port)
		command(gate, bad(conn2))
		t.eq(wait_event("^close " .. conn2 .. " (.*)$"), "bad cipher command", "bad cipher command")
		assert_closed(id2)
	end
	command(gate, "cipher 999999 " .. key .. " " .. key)
	command(gate, "cipher x")
	command(gate, "cipher\t" .. conn .. " " .. key .. " " .. key) -- not a space: malformed, not logged as text
	wait_log("gate: malformed cipher command (")
	t.eq(log.has(key), false, "the key is not in the log")
	t.eq(log.has(key:upper()), false, "nor in upper case")
	local id3 = accepted_client(gate, host, port)
	socket.close(id3)
	shoal.kill(gate)
end

-- cipher as a request (gateserver.encrypt): answered once the switch is
-- done, so the caller's next write is sealed; refusals answer with a
-- code; a call of any other command fails at once and is not run.
function cases.cipher_as_request()
	local crypto = require "shoal.crypto"
	local driver = require "shoal.socketdriver"
	local gate, host, port = launch()
	local id, conn = accepted_client(gate, host, port)
	local c2s, s2c = crypto.random(32), crypto.random(32)
	local tx, rx = crypto.sealer(c2s), crypto.opener(s2c)
	t.eq(gateserver.encrypt(gate, conn, c2s, s2c, 2000), true, "switched")
	t.eq(driver.sendframe(conn, "first sealed"), true, "sendframe")
	t.eq(rx:open(read_frame(id)), "first sealed", "the caller's next write is sealed")
	socket.write(id, string.pack(">s2", tx:seal("from the client")))
	t.eq(wait_frame().msg, "from the client", "opened by the gate")
	local ok, code = gateserver.encrypt(gate, conn, c2s, s2c, 2000)
	t.eq(ok, false, "a second switch is refused")
	t.eq(code, shoal.errors.INVAL, "with INVAL")
	t.eq(wait_event("^close " .. conn .. " (.*)$"), "bad cipher command", "and closes the connection")
	assert_closed(id)
	ok, code = gateserver.encrypt(gate, 999999, c2s, s2c, 2000)
	t.eq(ok, false, "no such connection")
	t.eq(code, shoal.errors.NOSERVICE, "ENOSERVICE")
	local id2, conn2 = accepted_client(gate, host, port)
	local called, code2 = shoal.trycalltimeout(2000, gate, "text", "kick " .. conn2)
	t.eq(called, false, "a kick sent as a call fails")
	t.eq(code2, shoal.errors.INVAL, "with INVAL")
	t.eq(driver.sendframe(conn2, "still open"), true, "and is not run")
	t.eq(read_frame(id2), "still open", "the connection still works")
	socket.close(id2)
	shoal.kill(gate)
end

t.start(cases, {
	"bad_arguments_refused",
	"connection_held_until_accept",
	"held_frames_survive_an_early_close",
	"too_much_before_accept",
	"write_to_client",
	"direct_frames",
	"header4",
	"forward_kick_and_dead_agent",
	"bad_commands_ignored",
	"cipher_mode",
	"cipher_as_request",
	"oversized_and_truncated",
	"maxconn",
	"idle_timeout",
	"exit_and_kill_close_everything",
}, function()
	log.mark()
	shoal.dispatch("text", function(_, source, line)
		events[#events + 1] = { source = source, line = line }
	end)
end)
