-- test_debug_hostile: what the console's command language (shoal/console.lua)
-- refuses from a hostile client: service names that leave the luaservice
-- path's directories (start x/../../p would load any file on disk), and
-- lines that are HTTP (a browser's cross-protocol POST to the console).
-- The console service acts on these (test/e2e/test_console.py Hostile).
local t = require "testlib"
local console = require "shoal.console"

local cases = {}

local function refused(line, pattern)
	local c, err = console.parse(line)
	t.eq(c, nil, "no command for " .. string.format("%q", line))
	t.contains(err, pattern, "error for " .. string.format("%q", line))
	t.ok(#err <= 200 and not err:find("[\r\n]"), "one short line: " .. err)
end

function cases.names_stay_in_the_service_path()
	refused("start x/../../p", "bad service name 'x/../../p': no '..' parts")
	refused("start ..", "no '..' parts")
	refused("start a/..", "no '..' parts")
	refused("start a/../b", "no '..' parts")
	refused("start ../../etc/passwd", "no '..' parts")
	refused("start a/./b", "no '.' parts")
	refused("start a/.", "no '.' parts")
	refused("start /etc/passwd", "an absolute path is not allowed")
	refused("start //x", "an absolute path is not allowed")
	refused("start a//b", "an empty part between slashes")
	refused("start a/", "an empty part between slashes")
	refused("start .hidden", "it starts with a letter, a digit or _")
	refused("start -x", "it starts with a letter, a digit or _")
	refused("start a\\b", "letters, digits and _ - . / only")
	refused("start " .. string.rep("a/", 64), "at most 127 bytes")
	-- names inside the path are fine, dots inside a part too
	for _, name in ipairs({ "counter", "sub/dir.svc", "a/b/c", "x..y", "a/...", "_a-b.c/d-e_f" }) do
		local c, a = console.parse("start " .. name .. " arg")
		t.eq(c, "start", name)
		t.same(a, { name = name, args = { "arg" } }, name)
	end
end

function cases.http_lines()
	for _, line in ipairs({
		"POST / HTTP/1.1",
		"GET /?cmd=shutdown HTTP/1.0",
		"OPTIONS * HTTP/1.1",
		"PRI * HTTP/2.0",
		"BREW /pot HTTP/1.1", -- any method, with the HTTP version
		"get /",
		"put x",
		"DELETE /a",
		"CONNECT 127.0.0.1:80",
		"PATCH /x",
		"HEAD /",
		"TRACE /",
		"Host: 127.0.0.1:8000",
		"host:127.0.0.1",
		"Origin: http://attacker.example",
		"User-Agent: Mozilla/5.0",
		"Content-Type: text/plain",
		"Content-Length: 9",
		"Referer: http://x",
	}) do
		t.eq(console.http(line), true, "HTTP: " .. line)
	end
	for _, line in ipairs({
		"", "list", "help", "shutdown", "post", "GET", "start counter", "kill :0100000a", "info .host",
		"log debug", "inject .svc fix.lua", "start echo HTTP", "hostname: x", "origins: x",
	}) do
		t.eq(console.http(line), false, "not HTTP: " .. line)
	end
	t.eq(console.http(nil), false, "nil")
	t.eq(console.http(42), false, "a number")
end

-- Random lines never make http raise.
function cases.http_random_input()
	math.randomseed(20261201)
	local alphabet = { " ", "/", ":", "HTTP/", "1.1", "GET", "post", "Host", "-", "\0", "\255", "x" }
	for _ = 1, 5000 do
		local parts = {}
		for j = 1, math.random(0, 12) do
			parts[j] = alphabet[math.random(#alphabet)]
		end
		local ok, r = pcall(console.http, table.concat(parts))
		t.ok(ok and type(r) == "boolean", "http raised or returned a non-boolean")
	end
end

-- The loader itself (snlua) refuses the same names from any caller, not
-- only from the console: shoal.newservice("x/../../p") loaded any file.
function cases.loader_refuses_paths_outside_the_service_path()
	local shoal = require "shoal"
	for _, name in ipairs({ "x/../../p", "../test_smoke", "/etc/passwd", "a/./b", "a//b" }) do
		local ok, err = pcall(shoal.newservice, name)
		t.eq(ok, false, "newservice " .. name)
		t.contains(tostring(err), "bad service name '" .. name .. "'", "error for " .. name)
	end
	-- a name inside the path still starts
	t.ok(pcall(shoal.newservice, "trivial_svc"), "trivial_svc starts")
end

t.start(cases, { "names_stay_in_the_service_path", "http_lines", "http_random_input",
	"loader_refuses_paths_outside_the_service_path" })
