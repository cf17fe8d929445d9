-- shoal/console.lua - the debug console's command language, as pure
-- functions: no shoal, no I/O, no globals touched. The console service
-- (service/debug_console.lua) uses it; test/lua/test_debug_parse.lua and
-- fuzz/fuzz_console.c check it alone.
--
--   console.parse(line)  -> cmd, args      a command and its checked arguments
--                        -> nil, err       a one-line reason (bad input never raises)
--                        -> nil            a blank line: nothing to do
--   console.telnet()     -> filter         filter(chunk) -> the chunk without telnet
--                                          negotiation (IAC ...), CR and NUL bytes
--   console.help([cmd])  -> lines          the command list, or one command's usage
--   console.http(line)   -> boolean        does the line look like HTTP (a request line
--                                          "METHOD target HTTP/x.y", a line starting with
--                                          GET/POST/PUT/... and a space, or a Host:,
--                                          Origin:, ... header)? The console then closes
--                                          the session: a browser sent it (see docs/console.md)
--   console.MAX_LINE                       longest accepted line, in bytes
--
-- A SERVICE argument is a handle ":0100000a", a number (decimal or 0x hex)
-- or a local name ".name"; parse returns it as an integer or the name
-- string (resolving it is the service's job). Words are separated by
-- spaces or tabs; double quotes group words ("a b"), with \" and \\ inside.

local console = {}

local MAX_LINE = 4096
local MAX_WORDS = 64
console.MAX_LINE = MAX_LINE

-- name, arguments, one line of help. Argument kinds: SERVICE, NAME, FILE,
-- LEVEL, COMMAND, ID (a decimal id), N (a count 0..10^6), TARGET (an alias's
-- target), ARG... (the rest of the words); [X] is optional.
local COMMANDS = {
	{ "help", "[COMMAND]", "list the commands, or show how to use one" },
	{ "list", "", "live services: handle, module and name (when known)" },
	{ "stat", "[SERVICE]", "messages, CPU seconds, queue length/peak and memory per service" },
	{ "mem", "[SERVICE]", "memory per service as last reported, or the live Lua memory of one" },
	{ "gc", "[SERVICE]", "full Lua garbage collection in every Lua service, or in one" },
	{ "info", "SERVICE", "everything known about one service" },
	{ "kill", "SERVICE", "stop a service now (its waiting callers get errors)" },
	{ "start", "NAME [ARG...]", "start a Lua service with string arguments; prints its handle" },
	{ "inject", "SERVICE FILE", "run a Lua file inside a live service; prints its return values" },
	{ "reload", "SERVICE [FILE]", "hot reload: re-run the service's file (or FILE); new code, same state" },
	{ "log", "[LEVEL]", "show or set the node log level: debug, info, warn or error" },
	{ "net", "", "open sockets: id, kind, owner, bytes in/out, buffered, address" },
	{ "ping", "SERVICE", "round-trip time of a debug ping to a Lua service" },
	{ "nodes", "", "cluster peers: state, round trip, bytes in/out, queued bytes, waiting calls" },
	{ "registry", "", "registry components: type/id, incarnation, state, last heartbeat age, address" },
	{ "players", "", "the players on this node's baseapps: account, epoch, name, position" },
	{ "spaces", "", "the spaces on this node's cellapps (and where the cellappmgr puts each)" },
	{ "entity", "ID", "everything this node's game services know of one entity (a player's account id)" },
	{ "failover", "", "the recent failover events seen by this node's failover services" },
	{ "ds", "[NAME]", "dedicated servers of this node's dsagents: processes by state, per fleet (or one fleet)" },
	{ "alloc", "NAME", "a test allocation through this node's dscontroller: an alias or a fleet (no ticket)" },
	{ "drain", "ID", "drain this node's dsagents: no new allocation, allocated DSs reaped after ID ms" },
	{ "fleet", "", "this node's dscontroller: builds, fleets, aliases, agents and processes by state" },
	{ "alias", "NAME TARGET", "point alias NAME at a fleet (FLEET) or split it (FLEET:PCT,FLEET2: PCT% to FLEET)" },
	{ "scale", "NAME N", "set fleet NAME's warm pool to N on every agent of this node's dscontroller" },
	{ "exit", "", "close this console session (the node keeps running)" },
	{ "shutdown", "", "stop the whole node gracefully (exit code 0)" },
}

local ALIASES = { quit = "exit", ["?"] = "help" }

-- Field of the args table for each argument kind.
local FIELD = {
	SERVICE = "service",
	NAME = "name",
	FILE = "file",
	LEVEL = "level",
	COMMAND = "topic",
	ID = "id",
	N = "count",
	TARGET = "target",
	ARG = "args",
}

local BY_NAME = {}
for _, c in ipairs(COMMANDS) do
	local spec = {}
	for word in c[2]:gmatch("%S+") do
		local optional = word:sub(1, 1) == "["
		local kind = word:gsub("[%[%]]", "")
		local rest = kind:sub(-3) == "..."
		kind = kind:gsub("%.%.%.$", "")
		spec[#spec + 1] = { kind = kind, field = FIELD[kind], optional = optional, rest = rest }
	end
	BY_NAME[c[1]] = {
		name = c[1],
		spec = spec,
		usage = c[2] == "" and c[1] or c[1] .. " " .. c[2],
		help = c[3],
	}
end

-- A word as it may be shown in an error: printable, short, quoted.
local function show(w)
	w = w:gsub("[%c\128-\255]", "?")
	if #w > 40 then
		w = w:sub(1, 40) .. "..."
	end
	return "'" .. w .. "'"
end

local function fail(fmt, ...)
	return nil, string.format(fmt, ...)
end

local SERVICE_FORMS = "use a handle like :0100000a, a number, or a .name"

local KIND = {}

function KIND.SERVICE(w)
	local v
	if w:find("^:%x+$") and #w <= 9 then
		v = tonumber(w:sub(2), 16)
	elseif w:find("^0[xX]%x+$") and #w <= 10 then
		v = tonumber(w:sub(3), 16)
	elseif w:find("^%d+$") and #w <= 10 then
		v = tonumber(w)
		if v > 0xffffffff then
			return fail("bad service %s: a handle is at most 0xffffffff", show(w))
		end
	elseif w:find("^%.[^%s%c]+$") then
		if #w > 63 then
			return fail("bad service %s: a local name has at most 62 characters after the dot", show(w))
		end
		return w
	else
		return fail("bad service %s: %s", show(w), SERVICE_FORMS)
	end
	if v == 0 then
		return fail("bad service %s: handle 0 is no service", show(w))
	end
	return v
end

-- A service name is looked up in the luaservice path (each "?" replaced by
-- it), so it must stay inside those directories: no absolute path, and no
-- "." or ".." or empty part between slashes.
function KIND.NAME(w)
	if #w > 127 then
		return fail("bad service name %s: at most 127 bytes", show(w))
	end
	if w:sub(1, 1) == "/" then
		return fail("bad service name %s: an absolute path is not allowed (services are found in the luaservice path)",
			show(w))
	end
	if not w:find("^[%w_%-%./]+$") then
		return fail("bad service name %s: letters, digits and _ - . / only", show(w))
	end
	for part in (w .. "/"):gmatch("([^/]*)/") do
		if part == "." or part == ".." then
			return fail("bad service name %s: no '%s' parts (a service is found only inside the luaservice "
				.. "path's directories)", show(w), part)
		elseif part == "" then
			return fail("bad service name %s: an empty part between slashes", show(w))
		end
	end
	if not w:find("^[%w_]") then
		return fail("bad service name %s: it starts with a letter, a digit or _", show(w))
	end
	return w
end

function KIND.FILE(w)
	if #w > 1024 then
		return fail("file name too long")
	end
	return w
end

local LEVELS = { debug = true, info = true, warn = true, error = true }

function KIND.LEVEL(w)
	local l = w:lower()
	if not LEVELS[l] then
		return fail("bad log level %s: use debug, info, warn or error", show(w))
	end
	return l
end

function KIND.COMMAND(w)
	local l = w:lower()
	l = ALIASES[l] or l
	if not BY_NAME[l] then
		return fail("no command %s (type help for the list)", show(w))
	end
	return l
end

-- An entity or account id: a decimal integer, 1..2^53 (ids are u64 on
-- the wire and below 2^53 in practice, docs/protocol.md section 2).
function KIND.ID(w)
	if not w:find("^%d+$") or #w > 16 or tonumber(w) > 2 ^ 53 or tonumber(w) == 0 then
		return fail("bad id %s: a decimal number from 1 to 2^53", show(w))
	end
	return math.tointeger(tonumber(w))
end

function KIND.N(w)
	if not w:find("^%d+$") or #w > 7 or tonumber(w) > 1000000 then
		return fail("bad count %s: a decimal number from 0 to 1000000", show(w))
	end
	return math.tointeger(tonumber(w))
end

function KIND.TARGET(w)
	if #w > 200 or not w:find("^[%w_.:,-]+$") then
		return fail("bad target %s: FLEET or FLEET:PCT,FLEET2", show(w))
	end
	return w
end

function KIND.ARG(w)
	return w
end

-- Applies backspace/DEL editing (clients without line editing send them).
local function backspaces(line)
	local out = {}
	for i = 1, #line do
		local c = line:sub(i, i)
		if c == "\b" or c == "\127" then
			out[#out] = nil
		else
			out[#out + 1] = c
		end
	end
	return table.concat(out)
end

-- Splits a line into words; returns the list, or nil and the reason.
local function split(line)
	local words = {}
	local n = #line
	local i = line:find("[^ ]")
	while i do
		local parts = {}
		while i <= n and line:byte(i) ~= 32 do
			if line:byte(i) == 34 then -- a quoted part
				local j = i + 1
				while true do
					local k = line:find('["\\]', j)
					if k == nil or (line:byte(k) == 92 and k == n) then
						return fail("unterminated quote")
					end
					parts[#parts + 1] = line:sub(j, k - 1)
					if line:byte(k) == 34 then
						i = k + 1
						break
					end
					parts[#parts + 1] = line:sub(k + 1, k + 1)
					j = k + 2
				end
			else
				local k = line:find('[ "]', i) or n + 1
				parts[#parts + 1] = line:sub(i, k - 1)
				i = k
			end
		end
		if #words == MAX_WORDS then
			return fail("too many words (at most %d)", MAX_WORDS)
		end
		words[#words + 1] = table.concat(parts)
		i = line:find("[^ ]", i)
	end
	return words
end

function console.parse(line)
	if type(line) ~= "string" then
		return fail("a command line is a string")
	end
	if #line > MAX_LINE then
		return fail("line too long (over %d bytes)", MAX_LINE)
	end
	if line:find("[\b\127]") then
		line = backspaces(line)
	end
	line = line:gsub("[\t\r\n]", " ")
	local c = line:find("%c")
	if c then
		return fail("control character 0x%02x in the line: plain text only", line:byte(c))
	end
	local words, err = split(line)
	if not words then
		return nil, err
	end
	if #words == 0 then
		return nil
	end
	local name = words[1]:lower()
	name = ALIASES[name] or name
	local cmd = BY_NAME[name]
	if cmd == nil then
		return fail("unknown command %s (type help for the list)", show(words[1]))
	end
	local args = {}
	local wi = 2
	for _, sp in ipairs(cmd.spec) do
		if sp.rest then
			local rest = {}
			for k = wi, #words do
				rest[#rest + 1] = words[k]
			end
			args[sp.field] = rest
			wi = #words + 1
		elseif words[wi] == nil then
			if not sp.optional then
				return fail("usage: %s", cmd.usage)
			end
		else
			local v, why = KIND[sp.kind](words[wi])
			if v == nil then
				return nil, why
			end
			args[sp.field] = v
			wi = wi + 1
		end
	end
	if wi <= #words then
		return fail("too many arguments; usage: %s", cmd.usage)
	end
	return name, args
end

-- HTTP request methods: a browser tricked into posting to the console
-- (a cross-protocol request) starts with one of these.
local HTTP_METHODS = { "GET", "POST", "PUT", "HEAD", "OPTIONS", "DELETE", "CONNECT", "PATCH", "TRACE", "PRI" }
local HTTP_HEADERS = { "host", "origin", "user-agent", "referer", "content-type", "content-length" }

function console.http(line)
	if type(line) ~= "string" then
		return false
	end
	if line:find("^%S+ %S+ HTTP/%d%.%d%s*$") then
		return true -- METHOD SP target SP HTTP/x.y
	end
	local word = line:match("^(%a+) ")
	if word then
		word = word:upper()
		for _, m in ipairs(HTTP_METHODS) do
			if word == m then
				return true
			end
		end
	end
	local header = line:match("^([%a%-]+):")
	if header then
		header = header:lower()
		for _, h in ipairs(HTTP_HEADERS) do
			if header == h then
				return true
			end
		end
	end
	return false
end

function console.help(topic)
	if topic then
		local c = BY_NAME[ALIASES[topic] or topic]
		if c == nil then
			return { string.format("no command %s", show(topic)) }
		end
		return { "usage: " .. c.usage, "  " .. c.help }
	end
	local lines = {}
	for _, c in ipairs(COMMANDS) do
		local cmd = BY_NAME[c[1]]
		lines[#lines + 1] = string.format("  %-24s %s", cmd.usage, cmd.help)
	end
	lines[#lines + 1] = "SERVICE: a handle :0100000a, a number (a small one is a local id on this"
	lines[#lines + 1] = "node: 10 is :0100000a on node 1), or a local name .name"
	return lines
end

-- Telnet: IAC (255) starts a command; WILL/WONT/DO/DONT (251..254) take one
-- option byte; SB (250) runs until IAC SE (240); IAC IAC is a literal 255.
-- The console never negotiates, so a client stays in its default line
-- mode; its requests are simply dropped. CR and NUL are dropped too (a
-- telnet line ends with CR LF, a bare CR is sent as CR NUL).
local IAC, SB, SE, WILL, DONT = 255, 250, 240, 251, 254
local DATA, CMD, OPTION, SUB, SUB_IAC = 0, 1, 2, 3, 4

function console.telnet()
	local state = DATA
	return function(chunk)
		if state == DATA and not chunk:find("[\255\r\0]") then
			return chunk
		end
		local out = {}
		local i, n = 1, #chunk
		while i <= n do
			if state == DATA then
				local j = chunk:find("[\255\r\0]", i)
				if j == nil then
					out[#out + 1] = chunk:sub(i)
					break
				end
				out[#out + 1] = chunk:sub(i, j - 1)
				if chunk:byte(j) == IAC then
					state = CMD
				end
				i = j + 1
			elseif state == CMD then
				local b = chunk:byte(i)
				if b == IAC then
					out[#out + 1] = "\255"
					state = DATA
				elseif b >= WILL and b <= DONT then
					state = OPTION
				elseif b == SB then
					state = SUB
				else
					state = DATA -- NOP, IP, AYT, GA, ...: ignored
				end
				i = i + 1
			elseif state == OPTION then
				state = DATA
				i = i + 1
			elseif state == SUB then
				local j = chunk:find("\255", i, true)
				if j == nil then
					break
				end
				state = SUB_IAC
				i = j + 1
			else -- SUB_IAC
				state = chunk:byte(i) == SE and DATA or SUB
				i = i + 1
			end
		end
		return table.concat(out)
	end
end

return console
