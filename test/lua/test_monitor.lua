-- test_monitor: a service stuck in one message is reported and interrupted.
-- Runs with SHOAL_MONITOR_MS=300 SHOAL_MONITOR_INTERRUPT=1 and the log in
-- SHOAL_LOGFILE (see CMakeLists.txt), so that the report can be checked.
local shoal = require "shoal"
local t = require "testlib"

local LOGFILE = os.getenv("SHOAL_LOGFILE")
local log_start = 0 -- log file size before the case

local function log_size()
	local f = io.open(LOGFILE, "r")
	if not f then
		return 0
	end
	local n = f:seek("end")
	f:close()
	return n
end

-- The log lines written since the case started.
local function log_since()
	local f = assert(io.open(LOGFILE, "r"))
	f:seek("set", log_start)
	local s = f:read("a")
	f:close()
	return s
end

local function wait_log(pattern, what)
	return t.wait_until(function()
		return log_since():find(pattern, 1, true)
	end, 2000, 20, what)
end

local cases = {}

function cases.config()
	t.ok(LOGFILE, "SHOAL_LOGFILE is set")
	t.eq(shoal.config("monitor_stuck_ms"), 300, "monitor_stuck_ms")
	t.eq(shoal.config("monitor_interrupt"), true, "monitor_interrupt")
end

function cases.stuck_call_is_interrupted()
	local svc = shoal.newservice("stuck_svc")
	local ms, r = t.timed(shoal.call, svc, "lua", "spin")
	t.eq(r[1], false, "call of a stuck handler")
	t.contains(r[2], "interrupted", "error")
	t.contains(r[2], "stuck_svc.lua", "error names the stuck code")
	t.between(ms, 250, 2999, "elapsed ms")
	wait_log(string.format("monitor: service %s stuck", shoal.address(svc)), "monitor report in the log")
	t.contains(log_since(), "interrupting it", "log")
	t.eq(shoal.call(svc, "lua", "ping"), "pong", "service answers after the interrupt")
	shoal.kill(svc)
end

function cases.stuck_oneway_is_interrupted()
	local svc = shoal.newservice("stuck_svc")
	shoal.send(svc, "lua", "spin")
	local ms, r = t.timed(shoal.call, svc, "lua", "ping")
	t.values(r, table.pack(true, "pong"), "call queued behind the stuck message")
	t.between(ms, 250, 2999, "elapsed ms")
	wait_log(string.format("monitor: service %s stuck", shoal.address(svc)), "monitor report in the log")
	shoal.kill(svc)
end

function cases.stuck_fork_is_interrupted()
	local svc = shoal.newservice("stuck_svc")
	shoal.send(svc, "lua", "spin_in_fork")
	local ms, r = t.timed(shoal.call, svc, "lua", "ping")
	t.values(r, table.pack(true, "pong"), "call queued behind the stuck fork")
	t.between(ms, 250, 2999, "elapsed ms")
	shoal.kill(svc)
end

function cases.stuck_start_is_interrupted()
	local ms, r = t.timed(shoal.newservice, "stuck_start_svc")
	t.eq(r[1], false, "newservice of a service stuck in its main chunk")
	t.contains(r[2], "interrupted", "error")
	t.between(ms, 250, 2999, "elapsed ms")
end

-- Both leave a worker thread stuck for good, so the node cannot stop.
function cases.stuck_in_user_coroutine_is_interrupted()
	local svc = shoal.newservice("stuck_svc")
	local ms, r = t.timed(shoal.call, svc, "lua", "spin_in_coroutine")
	t.eq(r[1], false, "call of a handler stuck in a coroutine.wrap")
	t.contains(r[2], "interrupted", "error")
	t.between(ms, 250, 2999, "elapsed ms")
end

function cases.stuck_again_after_pcall_is_interrupted_again()
	local svc = shoal.newservice("stuck_svc")
	local ms, r = t.timed(shoal.call, svc, "lua", "spin_under_pcall")
	t.eq(r[1], false, "call of a handler that catches the interrupt and loops again")
	t.between(ms, 250, 4999, "elapsed ms")
end

-- Interrupts aimed at a service while its coroutines finish and are
-- collected by the thousand. Each must act only on the coroutine running
-- at that moment, on the service's own thread: before, the asking thread
-- called lua_sethook on whichever coroutine it had last seen running, which
-- may have been freed meanwhile (ASan: heap-use-after-free). The messages
-- take 40 ms, under half the monitor's threshold, so no interrupt fails
-- them: the service must simply go on answering.
function cases.interrupts_while_coroutines_come_and_go()
	local svc = shoal.newservice("stuck_svc")
	local deadline = shoal.now() + 1500
	local asked, rounds, churned = 0, 0, 0
	while shoal.now() < deadline and rounds < 60 do
		rounds = rounds + 1
		local session = shoal.sendraw(svc, shoal.PTYPE_LUA, shoal.SESSION_ALLOC, shoal.packstring("churn", 40))
		local stop = shoal.now() + 40
		while shoal.now() < stop do
			shoal.interrupt(svc)
			asked = asked + 1
		end
		local ok = shoal.waitsession(session, 3000)
		t.ok(ok, "churn round " .. rounds .. " answered (not interrupted)")
		churned = churned + 1
	end
	t.ok(asked > 100, "interrupts asked: " .. asked)
	t.ok(churned >= 5, "churn rounds: " .. churned)
	t.eq(shoal.call(svc, "lua", "ping"), "pong", "service answers after the interrupts")
	shoal.kill(svc)
end

-- Each case sees only its own log lines; on a failure the log (which does
-- not go to the console in this test) is copied to stderr.
for name, f in pairs(cases) do
	cases[name] = function()
		log_start = log_size()
		local ok, err = xpcall(f, debug.traceback)
		if not ok then
			io.stderr:write("---- log since the case started:\n", log_since(), "----\n")
			error(err, 0)
		end
	end
end

t.start(cases, {
	"config",
	"stuck_call_is_interrupted",
	"stuck_oneway_is_interrupted",
	"stuck_fork_is_interrupted",
	"interrupts_while_coroutines_come_and_go",
	"stuck_start_is_interrupted",
	"stuck_in_user_coroutine_is_interrupted",
	"stuck_again_after_pcall_is_interrupted_again",
})
