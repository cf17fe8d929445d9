-- test_debug: the per-service debug protocol (shoal/debug.lua): loaded on
-- the first debug message; ping, mem, gc, stat, run (inject) and reload
-- (hot reload keeping state, shoal/reload.lua), and their errors.
local shoal = require "shoal"
local t = require "testlib"
require "shoal.debug" -- registers "debug" here too, so we can call with it

local cases = {}
local temps = {}

local function counter(label)
	return shoal.newservice("test_debug_counter", label or "counter")
end

local function dcall(h, ...)
	return shoal.calltimeout(3000, h, "debug", ...)
end

local function write_temp(text)
	local path = os.tmpname()
	temps[#temps + 1] = path
	local f = assert(io.open(path, "w"))
	f:write(text)
	f:close()
	return path
end

-- Runs code in h; returns the packed results of the run command.
local function run(h, code)
	return table.pack(dcall(h, "run", code, "=test"))
end

function cases.loaded_on_first_debug_message()
	local h = counter()
	t.eq(shoal.call(h, "lua", "debug_loaded"), false, "shoal.debug before any debug message")
	t.eq(dcall(h, "ping"), "pong", "ping")
	t.eq(shoal.call(h, "lua", "debug_loaded"), true, "shoal.debug after one")
	shoal.kill(h)
end

function cases.mem_gc_stat()
	local h = counter()
	local used, limit = dcall(h, "mem")
	t.eq(math.type(used), "integer", "mem is a byte count")
	t.between(used, 10000, 10000000, "lua memory")
	t.eq(limit, select(2, shoal.memory()), "memlimit as configured")
	shoal.call(h, "lua", "garbage", 20000)
	shoal.call(h, "lua", "drop")
	local before, after = dcall(h, "gc")
	t.ok(before - after > 500000, string.format("gc freed the dropped tables (%d -> %d)", before, after))
	local st = dcall(h, "stat")
	t.eq(st.name, "test_debug_counter", "stat name")
	t.contains(st.path, "test/lua/test_debug_counter.lua", "stat path")
	t.between(st.mem, 10000, 10000000, "stat mem")
	t.eq(st.memlimit, limit, "stat memlimit")
	shoal.kill(h)
end

function cases.run_code()
	local h = counter("label")
	local r = run(h, "return 1 + 1, 'x', nil, {}")
	t.eq(r[1], true, "run ok")
	t.eq(#r[2], 4, "four results")
	t.eq(r[2][1], "2", "result 1")
	t.eq(r[2][2], "x", "result 2")
	t.eq(r[2][3], "nil", "result 3")
	t.contains(r[2][4], "table: ", "result 4")
	-- print is captured, globals are the service's
	r = run(h, "print('hello', 42) print() injected_global = hits return hits")
	t.eq(r[1], true, "run ok")
	t.same(r[3], { "hello\t42", "" }, "printed lines")
	t.eq(shoal.call(h, "lua", "global", "injected_global"), tonumber(r[2][1]), "a global set by injected code")
	-- nothing returned
	r = run(h, "local x = 1")
	t.eq(r[1], true, "run ok")
	t.eq(#r[2], 0, "no results")
	-- injected code may block: it runs in the request's coroutine
	r = run(h, "local shoal = require 'shoal' shoal.sleep(20) return 'slept'")
	t.eq(r[2][1], "slept", "a sleeping chunk")
	shoal.kill(h)
end

function cases.run_errors()
	local h = counter()
	local r = run(h, "local x = = 1")
	t.eq(r[1], false, "syntax error fails")
	t.contains(r[2], "test:1:", "syntax error names the chunk and line")
	t.ok(not r[2]:find("\n"), "a syntax error is one line")
	r = run(h, "print('before')\nlocal function f() error('boom on purpose') end\nf()")
	t.eq(r[1], false, "runtime error fails")
	t.contains(r[2], "test:2: boom on purpose", "runtime error message")
	t.contains(r[2], "stack traceback:", "runtime error traceback")
	t.contains(r[2], "in local 'f'", "the traceback shows the chunk's frames")
	t.ok(not r[2]:find("xpcall", 1, true), "the traceback stops at the chunk")
	t.same(r[3], { "before" }, "lines printed before the error")
	r = run(h, "error({})")
	t.eq(r[1], false, "a table error fails")
	t.contains(r[2], "table: ", "a table error is shown")
	t.raises("unknown debug command nope", dcall, h, "nope")
	t.eq(dcall(h, "ping"), "pong", "the service still answers")
	shoal.kill(h)
end

local V2 = [[
local shoal = require "shoal"
local label = ...
local total = 0
local command = {}
hits = hits or 0
function command.add(n) total = total + 10 * n return total end
function command.get() return label, total, hits end
function command.version() return 2 end
function command.twice() return total * 2 end
shoal.start(function()
	error("the start function must not run again")
end)
]]

function cases.reload_keeps_state()
	local h = counter("kept")
	t.eq(shoal.call(h, "lua", "add", 5), 5, "v1 add")
	t.eq(shoal.call(h, "lua", "add", 2), 7, "v1 add")
	local v2 = write_temp(V2)
	local ok, r = dcall(h, "reload", v2)
	t.eq(ok, true, "reload ok: " .. tostring(r))
	t.eq(r.handlers, 0, "no top-level dispatch in v2")
	t.eq(r.replaced, 1, "the command table replaced (the old handler uses the new one)")
	t.eq(r.kept, 2, "total and label kept")
	t.eq(shoal.call(h, "lua", "version"), 2, "v2 code runs")
	t.eq(shoal.call(h, "lua", "add", 1), 17, "v2 add, on the kept total")
	t.eq(shoal.call(h, "lua", "twice"), 34, "a new command")
	local label, total, hits = shoal.call(h, "lua", "get")
	t.eq(label, "kept", "the label (a start argument) kept")
	t.eq(total, 17, "total")
	t.eq(hits, 6, "the global hit count survived (six lua calls)")
	shoal.kill(h)
end

function cases.reload_failures_change_nothing()
	local h = counter()
	shoal.call(h, "lua", "add", 3)
	-- a syntax error: nothing runs
	local bad = write_temp("local x = = 1\n")
	local ok, err = dcall(h, "reload", bad)
	t.eq(ok, false, "syntax error")
	t.contains(err, "unexpected symbol", "the compiler's message")
	t.eq(shoal.call(h, "lua", "version"), 1, "still v1")
	-- a file that replaces the handler and then raises: the handler is put back
	local raising = write_temp([[
local shoal = require "shoal"
shoal.dispatch("lua", function() return "broken" end)
error("half-way reload fails")
]])
	ok, err = dcall(h, "reload", raising)
	t.eq(ok, false, "raising file")
	t.contains(err, "half-way reload fails", "its error")
	t.eq(shoal.call(h, "lua", "version"), 1, "the old handler is back")
	t.eq(shoal.call(h, "lua", "add", 1), 4, "state untouched")
	-- no file
	ok, err = dcall(h, "reload", "/nonexistent/shoal/file.lua")
	t.eq(ok, false, "missing file")
	t.contains(err, "No such file", "missing file error")
	-- shoal.start is usable again after the failed reloads
	t.eq(shoal.call(h, "lua", "add", 1), 5, "service works")
	shoal.kill(h)
end

-- A file that installs its handler at the top level: the new handler
-- replaces the old one and shares its state.
local TOP = [[
local shoal = require "shoal"
local count = 0
local step = %d
shoal.dispatch("lua", function(_, _, cmd)
	if cmd == "bump" then
		count = count + step * %d
	end
	return count, "v%d"
end)
shoal.start(function() end)
]]

function cases.reload_top_level_dispatch()
	local h = counter()
	local a = write_temp(TOP:format(1, 1, 1))
	local ok, r = dcall(h, "reload", a)
	t.eq(ok, true, "reload to the top-level style: " .. tostring(r))
	t.eq(r.handlers, 1, "one handler set")
	t.eq(select(2, shoal.call(h, "lua", "bump")), "v1", "top-level v1")
	shoal.call(h, "lua", "bump")
	local b = write_temp(TOP:format(1, 100, 2))
	ok, r = dcall(h, "reload", b)
	t.eq(ok, true, "second reload: " .. tostring(r))
	t.eq(r.kept, 2, "count and step kept")
	local count, v = shoal.call(h, "lua", "bump")
	t.eq(v, "v2", "the new handler")
	t.eq(count, 102, "on the kept count")
	shoal.kill(h)
end

function cases.cleanup()
	for _, p in ipairs(temps) do
		os.remove(p)
	end
end

t.start(cases, {
	"loaded_on_first_debug_message",
	"mem_gc_stat",
	"run_code",
	"run_errors",
	"reload_keeps_state",
	"reload_failures_change_nothing",
	"reload_top_level_dispatch",
	"cleanup",
})
