-- debug_console: an operator's console on a TCP port, for `nc` or `telnet`.
--
-- Start it like any service, e.g. from the node's start service:
--
--   shoal.newservice("debug_console")               -- host/port from the config
--   shoal.newservice("debug_console", 8000)         -- 127.0.0.1:8000
--   shoal.newservice("debug_console", "0.0.0.0", 8000)
--
-- or as the start service itself (config `start = "debug_console"`).
-- Config keys (service arguments win over them):
--
--   console_host          address to bind (default 127.0.0.1: local users only)
--   console_port          port (0: any free port; the log line tells which)
--   console_timeout       ms to wait for a service's answer (default 3000)
--   console_max_sessions  concurrent sessions (default 16)
--   console_idle_ms       a session waiting this long for a line is closed
--                         (default 300000: 5 minutes)
--
-- It logs "debug console listening on HOST:PORT". Anyone who can connect
-- can run any code in the node (inject), so bind it to a public address
-- only behind a firewall; it warns when you do.
--
-- One line per command; every answer ends with the prompt "shoal> ". A bad
-- command prints one line starting with "error: " and the session goes on.
-- `help` lists the commands (the command language is shoal/console.lua;
-- the per-service side is shoal/debug.lua). `exit` closes the session;
-- `shutdown` stops the whole node gracefully with exit code 0
-- (shoal.abort(0)), as SIGTERM would. Each session is a coroutine, so a
-- slow command in one session does not hold up the others, and every call
-- into a service is bounded by console_timeout ("error: timeout: ...").
--
-- Idle sessions cannot lock operators out: a session that waits
-- console_idle_ms for a whole line is closed, and when all
-- console_max_sessions are taken, a new connection takes the place of the
-- session that has waited longest for its next line (one running a command
-- is never dropped; if all are, the newcomer is refused).
--
-- A browser can be tricked into posting to the console (a cross-protocol
-- request: its body is "shutdown"). A line that looks like HTTP (see
-- console.http) closes the session at once; nothing after it runs.

local shoal = require "shoal"
local socket = require "shoal.socket"
local console = require "shoal.console"
require "shoal.debug" -- the "debug" protocol: we call services with it

local PROMPT = "shoal> "
local MAX_FILE = 1024 * 1024 -- biggest file `inject` sends
local BATCH = 128 -- services asked at once by `gc`

local timeout -- ms, console_timeout
local max_sessions
local idle_ms -- console_idle_ms
local sessions = {} -- socket id -> session
local nsessions = 0
local labels = {} -- handle -> service name, for the services we have seen
local listener

local string_format = string.format

-- ---- failures: a command raises fail(...) to print "error: ..."

local Failure = {}

local function fail(fmt, ...)
	error(setmetatable({ msg = string_format(fmt, ...) }, Failure), 0)
end

-- Fails with the first line of text, the rest shown indented below it.
local function fail_lines(text)
	local lines = {}
	for l in (tostring(text) .. "\n"):gmatch("([^\n]*)\n") do
		lines[#lines + 1] = l
	end
	error(setmetatable({ msg = lines[1] or "", more = { table.unpack(lines, 2) } }, Failure), 0)
end

local function first_line(text)
	return (tostring(text):match("^[^\n]*"))
end

local addr = shoal.address

local function kb(bytes)
	return string_format("%.1f KB", bytes / 1024)
end

-- ---- services

-- The handle for a parsed SERVICE argument, and its stat; fails if none.
local function resolve(spec)
	local h = spec
	if type(spec) == "string" then
		h = shoal.query(spec)
		if not h then
			fail("no service named %s", spec)
		end
	elseif spec <= shoal.HANDLE_LOCAL_MASK then
		h = shoal.makehandle(shoal.nodeof(shoal.self()), spec) -- a local id on this node
	end
	local st = shoal.stat(h)
	if not st then
		fail("no such service %s", addr(h))
	end
	return h, st
end

local function lua_service(spec)
	local h, st = resolve(spec)
	if st.module ~= "snlua" then
		fail("%s is a C service (%s): it has no debug protocol", addr(h), st.module)
	end
	return h, st
end

-- A failed call (shoal.trycall's code and text) as one line. The code
-- says what failed; the text is only shown, never matched (a service's
-- own error may say anything).
local function call_error(h, code, err)
	if code == shoal.errors.TIMEOUT then
		return string_format("timeout: %s did not answer within %d ms", addr(h), timeout)
	end
	if code == shoal.errors.NOSERVICE then
		return "no such service " .. addr(h)
	end
	return first_line(err)
end

-- A call of h's debug protocol, bounded by the console timeout: true,
-- results... | false, code, text. An error of the call itself (a bad
-- argument) comes back the same way, without a code, so a parallel batch
-- always counts its answers.
local function try_debug(h, ...)
	local r = table.pack(pcall(shoal.trycalltimeout, timeout, h, "debug", ...))
	if r[1] then
		return table.unpack(r, 2, r.n)
	end
	return false, nil, r[2]
end

-- Calls a service's debug protocol; fails with the call's error.
local function debug_call(h, ...)
	local r = table.pack(try_debug(h, ...))
	if not r[1] then
		fail("%s", call_error(h, r[2], r[3]))
	end
	return table.unpack(r, 2, r.n)
end

-- Calls every handle's debug protocol, BATCH at a time in parallel; returns
-- one table.pack(try_debug(...)) per handle. Each call is bounded, so this is.
local function debug_call_all(handles, ...)
	local results, args = {}, table.pack(...)
	for first = 1, #handles, BATCH do
		local asks = {}
		for i = first, math.min(first + BATCH - 1, #handles) do
			asks[#asks + 1] = function()
				results[i] = table.pack(try_debug(handles[i], table.unpack(args, 1, args.n)))
			end
		end
		shoal.parallel(asks)
	end
	return results
end

-- {h =, st =} for every live service, in handle order.
local function all_services()
	local hs = shoal.list()
	table.sort(hs)
	local live, rows = {}, {}
	for _, h in ipairs(hs) do
		live[h] = true
		local st = shoal.stat(h)
		if st then
			rows[#rows + 1] = { h = h, st = st }
		end
	end
	for h in pairs(labels) do
		if not live[h] then
			labels[h] = nil -- gone: its handle may be reused
		end
	end
	return rows
end

local function label(h)
	if h == shoal.self() then
		return SERVICE_NAME
	end
	return labels[h]
end

-- ---- commands: COMMAND.name(out, args, session); out(line) prints

local COMMAND = {}

function COMMAND.help(out, args)
	for _, l in ipairs(console.help(args.topic)) do
		out(l)
	end
end

function COMMAND.list(out)
	out(string_format("%-10s %-8s %s", "handle", "module", "name"))
	local rows = all_services()
	for _, r in ipairs(rows) do
		out(string_format("%-10s %-8s %s", addr(r.h), r.st.module, label(r.h) or r.st.label or "-"))
	end
	out(string_format("%d services", #rows))
end

local STAT_FORMAT = "%-10s %-8s %10s %9s %6s %6s %10s"

local function stat_row(out, h, st)
	out(string_format(STAT_FORMAT, addr(h), st.module, st.messages, string_format("%.3f", st.cpu), st.mqlen,
		st.mqpeak, kb(st.mem)))
end

function COMMAND.stat(out, args)
	out(string_format(STAT_FORMAT, "handle", "module", "messages", "cpu(s)", "mqlen", "mqpeak", "mem"))
	if args.service then
		local h, st = resolve(args.service)
		stat_row(out, h, st)
		return
	end
	local rows = all_services()
	local messages, cpu, mem = 0, 0, 0
	for _, r in ipairs(rows) do
		stat_row(out, r.h, r.st)
		messages, cpu, mem = messages + r.st.messages, cpu + r.st.cpu, mem + r.st.mem
	end
	out(string_format(STAT_FORMAT, "total", #rows .. " svc", messages, string_format("%.3f", cpu), "", "", kb(mem)))
end

function COMMAND.mem(out, args)
	if args.service then
		local h = lua_service(args.service)
		local used, limit = debug_call(h, "mem")
		out(string_format("%s lua memory %s (%d bytes), limit %s", addr(h), kb(used), used,
			limit > 0 and kb(limit) or "none"))
		return
	end
	local rows, total = all_services(), 0
	for _, r in ipairs(rows) do
		total = total + r.st.mem
	end
	table.sort(rows, function(a, b)
		return a.st.mem > b.st.mem or (a.st.mem == b.st.mem and a.h < b.h)
	end)
	for _, r in ipairs(rows) do
		out(string_format("%-10s %-8s %10s  %s", addr(r.h), r.st.module, kb(r.st.mem), label(r.h) or r.st.label or ""))
	end
	out(string_format("total %s in %d services (as reported after each one's last message)", kb(total), #rows))
end

function COMMAND.gc(out, args)
	if args.service then
		local h = lua_service(args.service)
		local before, after = debug_call(h, "gc")
		out(string_format("%s gc: %s -> %s (freed %s)", addr(h), kb(before), kb(after), kb(before - after)))
		return
	end
	local handles = {}
	for _, r in ipairs(all_services()) do
		if r.st.module == "snlua" then
			handles[#handles + 1] = r.h
		end
	end
	local results = debug_call_all(handles, "gc")
	local before, after, failed = 0, 0, {}
	for i, r in ipairs(results) do
		if r[1] then
			before, after = before + r[2], after + r[3]
		else
			failed[#failed + 1] = string_format("  %s failed: %s", addr(handles[i]), call_error(handles[i], r[2], r[3]))
		end
	end
	out(string_format("gc: %d Lua services, %s -> %s (freed %s)", #handles - #failed, kb(before), kb(after),
		kb(before - after)))
	for i = 1, math.min(#failed, 20) do
		out(failed[i])
	end
	if #failed > 20 then
		out(string_format("  ... and %d more failed", #failed - 20))
	end
end

function COMMAND.info(out, args)
	local h, st = resolve(args.service)
	local d = st.module == "snlua" and debug_call(h, "stat") -- before printing: may fail
	out("handle    " .. addr(h))
	out("module    " .. st.module)
	if d then
		labels[h] = labels[h] or d.name
		out("name      " .. tostring(d.name))
		out("file      " .. tostring(d.path))
		out(string_format("lua mem   %s (%d bytes), limit %s", kb(d.mem), d.mem,
			d.memlimit > 0 and kb(d.memlimit) or "none"))
	end
	out(string_format("messages  %d", st.messages))
	out(string_format("cpu       %.3f s", st.cpu))
	out(string_format("queue     %d waiting, peak %d", st.mqlen, st.mqpeak))
	out("mem       " .. kb(st.mem) .. " (as last reported)")
end

function COMMAND.kill(out, args)
	local h, st = resolve(args.service)
	if h == shoal.self() then
		fail("%s is this console: use exit or shutdown", addr(h))
	end
	if st.module == "logger" then
		fail("%s is the node's logger: the node would lose every log line (use shutdown)", addr(h))
	end
	local ok, err = shoal.kill(h)
	if not ok then
		fail("cannot kill %s: %s", addr(h), err)
	end
	labels[h] = nil
	out("killed " .. addr(h))
end

function COMMAND.start(out, args)
	local ok, h = pcall(shoal.newservice, args.name, table.unpack(args.args))
	if not ok then
		fail("%s", first_line(h))
	end
	labels[h] = table.concat({ args.name, table.unpack(args.args) }, " ")
	out(addr(h))
end

local function read_file(name)
	local f, err = io.open(name, "rb")
	if not f then
		fail("cannot open %s", err)
	end
	local code, err2 = f:read(MAX_FILE + 1)
	f:close()
	if err2 then
		fail("cannot read %s: %s", name, err2)
	end
	code = code or "" -- an empty file
	if #code > MAX_FILE then
		fail("%s is over %d bytes", name, MAX_FILE)
	end
	return code
end

function COMMAND.inject(out, args)
	local h = lua_service(args.service)
	local code = read_file(args.file)
	local ok, result, printed = debug_call(h, "run", code, "@" .. args.file)
	for _, l in ipairs(printed or {}) do
		out(l)
	end
	if not ok then
		fail_lines(result)
	end
	out(#result > 0 and table.concat(result, "\t") or "(no values)")
end

function COMMAND.reload(out, args)
	local h = lua_service(args.service)
	local ok, r = debug_call(h, "reload", args.file)
	if not ok then
		fail_lines(r)
	end
	out(string_format("reloaded %s%s: %d handler(s) set, %d code value(s) replaced, %d state value(s) kept",
		addr(h), args.file and " from " .. args.file or "", r.handlers, r.replaced, r.kept))
end

function COMMAND.log(out, args)
	local old = shoal.loglevel()
	if args.level then
		out(string_format("log level %s -> %s", old, shoal.loglevel(args.level)))
	else
		out("log level " .. old)
	end
end

local KIND = {
	L = "listen",
	l = "listen (paused)",
	C = "connected",
	c = "connecting",
	U = "udp",
	A = "accepted (paused)",
}

function COMMAND.net(out)
	local list = socket.info()
	table.sort(list, function(a, b)
		return a.id < b.id
	end)
	local f = "%-6s %-18s %-10s %12s %12s %10s  %s"
	out(string_format(f, "id", "kind", "owner", "bytes in", "bytes out", "buffered", "address"))
	for _, i in ipairs(list) do
		out(string_format(f, i.id, KIND[i.kind] or i.kind, addr(i.owner), i.bytes_in, i.bytes_out, i.buffered,
			i.peer))
	end
	out(string_format("%d sockets", #list))
end

function COMMAND.ping(out, args)
	local h = lua_service(args.service)
	local t0 = shoal.hpc()
	debug_call(h, "ping")
	out(string_format("pong from %s in %.3f ms", addr(h), (shoal.hpc() - t0) / 1e6))
end

local function clustered()
	if shoal.config("cluster") == "" then
		fail("this node is not in a cluster (no `cluster` in its config)")
	end
end

function COMMAND.nodes(out)
	clustered()
	local cluster = require "cluster"
	local ok, text = pcall(cluster.nodes)
	if not ok then
		fail("harbor: %s", tostring(text))
	end
	for line in text:gmatch("[^\n]+") do
		out(line)
	end
end

function COMMAND.registry(out)
	clustered()
	local cluster = require "cluster"
	local ok, list = pcall(function()
		return cluster.registry():query {}
	end)
	if not ok then
		fail("registry: %s", tostring(list))
	end
	local f = "%-24s %5s %-8s %10s  %-22s %s"
	out(string_format(f, "component", "inc", "state", "age_ms", "address", "tags"))
	for _, c in ipairs(list) do
		out(string_format(f, c.type .. "/" .. c.id, c.inc, c.state, c.age_ms, c.addr .. ":" .. c.port,
			table.concat(c.tags, ",")))
	end
	out(string_format("%d components", #list))
end

function COMMAND.exit(out, _, s)
	out("bye")
	s.closing = true
end

function COMMAND.shutdown(out, _, s)
	out("shutting down the node")
	s.closing = true
	s.shutdown = true
end

-- players, spaces, entity ID, failover: asked of the node's game services
require("shoal.console_report").install(COMMAND, {
	services = all_services,
	call_all = debug_call_all,
	call_error = call_error,
	addr = addr,
})

-- ---- sessions

local function printable(line)
	line = line:gsub("%c", "?")
	return #line > 200 and line:sub(1, 200) .. "..." or line
end

-- Runs one line; returns the text to send (without the prompt).
local function run_line(s, line)
	local cmd, args = console.parse(line)
	if cmd == nil then
		return args and "error: " .. args .. "\n" or ""
	end
	shoal.log(string_format("console %s: %s", s.peer, printable(line)))
	local lines = {}
	local function out(l)
		lines[#lines + 1] = l
	end
	local ok, err = xpcall(COMMAND[cmd], shoal.traceback, out, args, s)
	if not ok then
		if getmetatable(err) == Failure then
			lines[#lines + 1] = "error: " .. err.msg
			for _, l in ipairs(err.more or {}) do
				lines[#lines + 1] = "  " .. l
			end
		else
			shoal.error("console command '" .. cmd .. "' failed: " .. tostring(err))
			lines[#lines + 1] = "error: internal error: " .. first_line(err)
		end
	end
	lines[#lines + 1] = ""
	return table.concat(lines, "\n")
end

-- The next line (without its end), false for a line that was too long,
-- nil when the peer has closed or the console dropped the session
-- (s.dropped). A partial line is run at the peer's close only, never when
-- the console itself ends the session.
local function next_line(s)
	while true do
		local i = s.buf:find("\n", s.pos, true)
		if i then
			local line = s.buf:sub(s.pos, i - 1)
			s.pos = i + 1
			if s.skipping then
				s.skipping = false
				return false
			end
			return line
		end
		if s.pos > 1 then
			s.buf, s.pos = s.buf:sub(s.pos), 1
		end
		if #s.buf > console.MAX_LINE then
			s.buf, s.skipping = "", true
		end
		local data = socket.read(s.id)
		if s.dropped then
			return nil
		end
		if data == nil then
			local rest = s.buf
			s.buf = ""
			if s.skipping then
				s.skipping = false
				return false
			end
			return rest ~= "" and rest or nil
		end
		s.buf = s.buf .. s.filter(data)
	end
end

local function send(s, text)
	if not socket.write(s.id, text) then
		s.closing = true -- the peer is gone or not reading
	end
end

local function seconds(ms)
	return string_format("%.1f s", ms / 1000)
end

local function serve(s)
	send(s, string_format("Shoal debug console, node %s, service %s (type help; exit to leave)\n%s",
		shoal.config("node"), addr(shoal.self()), PROMPT))
	while not s.closing do
		s.waiting_since = shoal.hpc() -- ns: sessions are ordered by it even within a millisecond
		local line = next_line(s)
		s.waiting_since = nil
		if line == nil then
			break
		end
		if line ~= false and console.http(line) then
			send(s, "error: this is a debug console, not an HTTP server: session closed, nothing it sent was run\n")
			shoal.warn(string_format("debug console: closed the session from %s: it sent HTTP ('%s'), as a "
				.. "browser does when a web page posts to the console; nothing it sent was run", s.peer,
				printable(line)))
			break
		end
		local text
		if line == false then
			text = string_format("error: line too long (over %d bytes)\n", console.MAX_LINE)
		else
			text = run_line(s, line)
		end
		send(s, s.closing and text or text .. PROMPT)
	end
end

-- Forgets a session (once: a dropped session's own coroutine ends later).
local function forget(s)
	if sessions[s.id] == s then
		sessions[s.id] = nil
		nsessions = nsessions - 1
	end
end

-- Ends a session waiting for its next line, from outside its coroutine:
-- tells the peer why and closes the socket, which wakes the coroutine; it
-- sees s.dropped and ends without running anything it has read.
local function drop(s, why)
	s.dropped = true
	forget(s)
	socket.write(s.id, "\nerror: session closed: " .. why .. "\n")
	socket.close(s.id)
end

-- The session that has waited longest for its next line, or nil when
-- every session is running a command.
local function longest_idle()
	local oldest
	for _, s in pairs(sessions) do
		if s.waiting_since and (oldest == nil or s.waiting_since < oldest.waiting_since
			or (s.waiting_since == oldest.waiting_since and s.id < oldest.id)) then
			oldest = s
		end
	end
	return oldest
end

-- Makes room for a new session; false when every session is busy.
local function make_room(peer)
	local s = longest_idle()
	if s == nil then
		return false
	end
	local idle = seconds((shoal.hpc() - s.waiting_since) / 1e6)
	drop(s, string_format("idle for %s and a new session needs the place (console_max_sessions = %d)", idle,
		max_sessions))
	shoal.warn(string_format("debug console: %d sessions open: closed the one from %s (idle for %s) for %s",
		max_sessions, s.peer, idle, peer))
	return true
end

-- One timer for all sessions, while there are any: closes those that have
-- waited console_idle_ms for a line (checked every tenth of it, at most
-- every second), so an idle session ends within about 1.1 * console_idle_ms.
local sweeping = false
local sweep

local function arm_sweep()
	sweeping = true
	shoal.timeout(math.max(50, math.min(1000, idle_ms // 10)), sweep)
end

function sweep()
	local now = shoal.hpc()
	local idle = {}
	for _, s in pairs(sessions) do
		if s.waiting_since and now - s.waiting_since >= idle_ms * 1000000 then
			idle[#idle + 1] = s
		end
	end
	for _, s in ipairs(idle) do
		drop(s, string_format("no command for %s (console_idle_ms)", seconds(idle_ms)))
		shoal.log(string_format("debug console: session from %s closed: idle for %s", s.peer, seconds(idle_ms)))
	end
	sweeping = false
	if nsessions > 0 then
		arm_sweep()
	end
end

local function on_accept(id, peer)
	socket.start(id)
	if nsessions >= max_sessions and not make_room(peer) then
		socket.write(id, string_format("error: too many console sessions (at most %d), all running a command\n",
			max_sessions))
		socket.close(id)
		shoal.warn(string_format("debug console: refused %s: %d sessions open, all running a command", peer,
			nsessions))
		return
	end
	local s = { id = id, peer = peer, buf = "", pos = 1, filter = console.telnet() }
	sessions[id] = s
	nsessions = nsessions + 1
	if not sweeping then
		arm_sweep()
	end
	shoal.log(string_format("debug console: session from %s", peer))
	local ok, err = xpcall(serve, shoal.traceback, s)
	if not ok then
		shoal.error("debug console: session " .. peer .. " failed: " .. tostring(err))
	end
	forget(s)
	if not s.dropped then
		socket.close(id) -- a dropped session's id is closed already, and may be reused
	end
	shoal.log(string_format("debug console: session from %s closed", peer))
	if s.shutdown then
		shoal.log("debug console: shutdown requested from " .. peer)
		shoal.abort(0)
	end
end

-- ---- start

local function integer_setting(key, value, lo, hi)
	local n = math.tointeger(tonumber(value))
	if n == nil or n < lo or n > hi then
		error(string_format("debug_console: %s must be an integer in %d..%d, got '%s'", key, lo, hi,
			tostring(value)), 0)
	end
	return n
end

local function settings(...)
	local words = {}
	for i = 1, select("#", ...) do
		for w in tostring((select(i, ...))):gmatch("%S+") do
			words[#words + 1] = w
		end
	end
	local host = shoal.config("console_host")
	local port = shoal.config("console_port")
	if #words == 1 then
		port = words[1]
	elseif #words == 2 then
		host, port = words[1], words[2]
	elseif #words > 2 then
		error("debug_console: arguments are [HOST] PORT", 0)
	end
	if port == -1 then
		error("debug_console: no port: set console_port in the config or pass one", 0)
	end
	port = integer_setting("console_port", port, 0, 65535)
	timeout = shoal.config("console_timeout")
	max_sessions = shoal.config("console_max_sessions")
	idle_ms = shoal.config("console_idle_ms")
	return host, port
end

local function is_loopback(host)
	return host == "localhost" or host == "::1" or host:find("^127%.") ~= nil
end

local start_args = table.pack(...)

shoal.start(function()
	local host, port = settings(table.unpack(start_args, 1, start_args.n))
	local id, err = socket.listen(host, port)
	if not id then
		error(string_format("debug_console: cannot listen on %s:%d: %s", host, port, tostring(err)), 0)
	end
	listener = id
	socket.start(id, on_accept)
	local where = host .. ":" .. port
	for _, i in ipairs(socket.info()) do
		if i.id == id then
			where = i.peer
		end
	end
	shoal.log("debug console listening on " .. where)
	if not is_loopback(host) then
		shoal.warn("debug console on " .. where .. " is reachable from the network: anyone who can connect "
			.. "can run code in this node (inject); bind it to 127.0.0.1 unless a firewall protects it")
	end
	shoal.on_exit(function()
		socket.close(listener)
		for sid in pairs(sessions) do
			socket.write(sid, "\nthe node is shutting down\n")
			socket.close(sid)
		end
	end)
end)
