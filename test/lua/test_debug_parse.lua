-- test_debug_parse: the console's command language (shoal/console.lua):
-- parse, the telnet filter and help, including random input that must
-- never raise (fuzz/console.sh does the same for longer, with libFuzzer).
local t = require "testlib"
local console = require "shoal.console"

local cases = {}

local function parsed(line, cmd, args)
	local c, a = console.parse(line)
	t.eq(c, cmd, "command of " .. string.format("%q", line))
	t.same(a, args, "args of " .. string.format("%q", line))
end

local function refused(line, pattern)
	local c, err = console.parse(line)
	t.eq(c, nil, "no command for " .. string.format("%q", line))
	t.contains(err, pattern, "error for " .. string.format("%q", line))
	t.ok(not err:find("[\r\n]"), "an error is one line: " .. err)
	return err
end

function cases.commands()
	parsed("help", "help", {})
	parsed("help kill", "help", { topic = "kill" })
	parsed("HELP Quit", "help", { topic = "exit" })
	parsed("?", "help", {})
	parsed("list", "list", {})
	parsed("stat", "stat", {})
	parsed("stat :0100000a", "stat", { service = 0x0100000a })
	parsed("mem", "mem", {})
	parsed("mem .counter", "mem", { service = ".counter" })
	parsed("gc", "gc", {})
	parsed("gc 10", "gc", { service = 10 })
	parsed("info 0x0100000A", "info", { service = 0x0100000a })
	parsed("info 16777226", "info", { service = 16777226 })
	parsed("kill :1", "kill", { service = 1 })
	parsed("start hello_counter", "start", { name = "hello_counter", args = {} })
	parsed("start sub/dir.svc a b  c", "start", { name = "sub/dir.svc", args = { "a", "b", "c" } })
	parsed('start echo "two words" x""y "" \'q\'', "start",
		{ name = "echo", args = { "two words", "xy", "", "'q'" } })
	parsed([[start echo "a \"quoted\" \\ word"]], "start", { name = "echo", args = { [[a "quoted" \ word]] } })
	parsed("inject :0100000a /tmp/fix.lua", "inject", { service = 0x0100000a, file = "/tmp/fix.lua" })
	parsed('inject .svc "my file.lua"', "inject", { service = ".svc", file = "my file.lua" })
	parsed("reload .svc", "reload", { service = ".svc" })
	parsed("reload .svc patched.lua", "reload", { service = ".svc", file = "patched.lua" })
	parsed("log", "log", {})
	parsed("log DEBUG", "log", { level = "debug" })
	parsed("net", "net", {})
	parsed("ping :0100000a", "ping", { service = 0x0100000a })
	parsed("exit", "exit", {})
	parsed("quit", "exit", {})
	parsed("shutdown", "shutdown", {})
end

function cases.whitespace_and_editing()
	parsed("  list  ", "list", {})
	parsed("\tkill\t:0a\t", "kill", { service = 10 })
	parsed("list\r", "list", {})
	parsed("lisx\bt", "list", {})
	parsed("kill :0100000a\127\127\127\127\127\127\127\127\127\127\127\127\127\127\127\127\127list", "list", {})
	t.eq(console.parse(""), nil, "blank line")
	t.eq(select(2, console.parse("")), nil, "a blank line is no error")
	t.eq(console.parse("   \t "), nil, "spaces")
	t.eq(select(2, console.parse("   ")), nil, "spaces are no error")
end

function cases.errors()
	refused("frobnicate", "unknown command 'frobnicate'")
	refused("kill", "usage: kill SERVICE")
	refused("info", "usage: info SERVICE")
	refused("inject :0a", "usage: inject SERVICE FILE")
	refused("start", "usage: start NAME [ARG...]")
	refused("ping", "usage: ping SERVICE")
	refused("list extra", "too many arguments; usage: list")
	refused("exit now", "too many arguments")
	refused("kill foo", "bad service 'foo'")
	refused("kill :xyz", "bad service ':xyz'")
	refused("kill :123456789", "bad service")
	refused("kill 0", "handle 0 is no service")
	refused("kill :0", "handle 0 is no service")
	refused("kill 99999999999", "bad service")
	refused("kill 4294967296", "at most 0xffffffff")
	refused("kill .", "bad service")
	refused("kill ." .. string.rep("n", 63), "at most 62 characters")
	refused("start ../x;rm", "bad service name")
	refused("start " .. string.rep("s", 128), "bad service name")
	refused("log loud", "bad log level 'loud'")
	refused("help nothing", "no command 'nothing'")
	refused('start x "open', "unterminated quote")
	refused('start x "ends with backslash\\', "unterminated quote")
	refused("list\0", "control character 0x00")
	refused("\27[A", "control character 0x1b")
	refused(string.rep("a", console.MAX_LINE + 1), "line too long")
	refused(string.rep("a ", 65), "too many words")
	local err = refused("x\255\200" .. string.rep("y", 100), "unknown command")
	t.ok(#err < 120, "long words are shortened in errors")
	t.ok(not err:find("[\128-\255]"), "bytes shown as ?")
	local c, e = console.parse(42)
	t.eq(c, nil, "a number is no line")
	t.contains(e, "string", "non-string error")
end

local function filtered(chunks)
	local f = console.telnet()
	local out = {}
	for _, c in ipairs(chunks) do
		out[#out + 1] = f(c)
	end
	return table.concat(out)
end

function cases.telnet()
	t.eq(filtered { "list\r\n" }, "list\n", "CR dropped")
	t.eq(filtered { "a\r\0b\n" }, "ab\n", "CR NUL dropped")
	-- what a telnet client sends first: DO SUPPRESS-GO-AHEAD, WILL TERMINAL-TYPE, ...
	t.eq(filtered { "\255\253\3\255\251\24\255\251\31list\r\n" }, "list\n", "negotiation dropped")
	t.eq(filtered { "\255\250\24\0xterm\255\240help\n" }, "help\n", "subnegotiation dropped")
	t.eq(filtered { "x\255\255y\n" }, "x\255y\n", "IAC IAC is a 255 byte")
	t.eq(filtered { "\255\244\255\241ok\n" }, "ok\n", "IP and NOP dropped")
	-- split anywhere
	local whole = "\255\253\3li\255\250\31\0\80\255\240st\255\255\r\n"
	for cut = 0, #whole do
		t.eq(filtered { whole:sub(1, cut), whole:sub(cut + 1) }, "list\255\n", "split at " .. cut)
	end
	t.eq(filtered { "\255\250", "lots of option data\255", "\240", "after\n" }, "after\n", "SB over chunks")
end

function cases.help()
	local lines = console.help()
	t.ok(#lines >= 15, "a line per command")
	local text = table.concat(lines, "\n")
	for _, name in ipairs({ "help", "list", "stat", "mem", "gc", "info", "kill", "start", "inject", "reload", "log",
		"net", "ping", "exit", "shutdown" }) do
		t.contains(text, "  " .. name, "help lists " .. name)
	end
	t.same(console.help("kill"), { "usage: kill SERVICE", "  stop a service now (its waiting callers get errors)" },
		"help kill")
	t.same(console.help("quit")[1], "usage: exit", "help for an alias")
	t.contains(console.help("nope")[1], "no command", "help for nothing")
end

-- Random lines, biased towards the characters the parser cares about:
-- parse must return (string, table), (nil, one-line string) or nil.
function cases.random_input_never_raises()
	math.randomseed(20261121)
	local alphabet = { " ", "\t", '"', "\\", ":", ".", "0", "x", "f", "\b", "\127", "\0", "\255", "\r", "\n", "a",
		"kill ", "start ", "inject ", "log ", "help ", "ping ", "\255\250", "\255\240", "\255\253" }
	for i = 1, 20000 do
		local parts = {}
		for j = 1, math.random(0, 24) do
			parts[j] = math.random(4) == 1 and string.char(math.random(0, 255)) or alphabet[math.random(#alphabet)]
		end
		local line = table.concat(parts)
		local ok, c, a = pcall(console.parse, line)
		t.ok(ok, "parse raised on " .. string.format("%q", line) .. ": " .. tostring(c))
		if c ~= nil then
			t.eq(type(c), "string", "command")
			t.eq(type(a), "table", "args")
		elseif a ~= nil then
			t.eq(type(a), "string", "error")
			t.ok(not a:find("[\r\n]"), "one-line error")
		end
		local f = console.telnet()
		local ok2, text = pcall(f, line)
		t.ok(ok2 and type(text) == "string", "telnet filter raised at " .. i)
	end
end

t.start(cases, { "commands", "whitespace_and_editing", "errors", "telnet", "help", "random_input_never_raises" })
