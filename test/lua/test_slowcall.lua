-- test_slowcall: slow-call warnings (config call_slow_ms, 200 ms here; see
-- lualib/src/lua-sched.c): a call unanswered past it is logged once with
-- its callee, the time waited and the caller's traceback; an answered
-- call, or one whose own timeout is not longer, is not.
local shoal = require "shoal"
local t = require "testlib"

local cases = {}
local log = t.logfile()

local function count(text)
	local f = assert(io.open(os.getenv("SHOAL_LOGFILE")))
	local s = f:read("a")
	f:close()
	local n = 0
	for _ in s:gmatch(text:gsub("%p", "%%%0")) do
		n = n + 1
	end
	return n
end

local function wait_for_the_hung_one(svc)
	return shoal.trycalltimeout(1000, svc, "lua", "hang")
end

function cases.logged_once_with_traceback()
	local svc = shoal.newservice("hang_svc")
	log.mark()
	local before = count("slow call: " .. shoal.address(svc))
	local ok, code = wait_for_the_hung_one(svc)
	t.eq(ok, false, "the call failed")
	t.eq(code, shoal.errors.TIMEOUT, "by its timeout")
	log.wait("slow call: " .. shoal.address(svc) .. " has not answered in ") -- names the callee
	t.ok(log.has("timeout 1000 ms"), "and the call's timeout")
	t.ok(log.has("wait_for_the_hung_one"), "and the caller's traceback")
	t.eq(count("slow call: " .. shoal.address(svc)) - before, 1, "once")
	shoal.kill(svc)
end

function cases.answered_or_short_calls_are_not()
	local svc = shoal.newservice("hang_svc")
	local before = count("slow call: " .. shoal.address(svc))
	t.eq(shoal.calltimeout(1000, svc, "lua", "late", 50, "v"), "v", "answered in 50 ms")
	local ok, code = shoal.trycalltimeout(150, svc, "lua", "hang")
	t.eq(code, shoal.errors.TIMEOUT, "a 150 ms call that times out")
	shoal.sleep(300) -- past call_slow_ms for both: the scan would have run
	t.eq(shoal.calltimeout(1000, svc, "lua", "ping"), "pong", "a call after them")
	t.eq(count("slow call: " .. shoal.address(svc)) - before, 0, "none is logged")
	shoal.kill(svc)
end

function cases.many_at_once()
	local svc = shoal.newservice("hang_svc")
	local before = count("slow call: " .. shoal.address(svc))
	local fns = {}
	for i = 1, 20 do
		fns[i] = function()
			return shoal.trycalltimeout(600 + i * 10, svc, "lua", "hang")
		end
	end
	local r = t.join(fns, 5000)
	t.ok(r, "every call ended")
	t.eq(count("slow call: " .. shoal.address(svc)) - before, 20, "each of the 20 logged, once")
	shoal.kill(svc)
end

t.start(cases, { "logged_once_with_traceback", "answered_or_short_calls_are_not", "many_at_once" })
