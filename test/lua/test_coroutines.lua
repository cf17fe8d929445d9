-- test_coroutines: ordering of fork, sleep, wait/wakeup and timeout.
-- Each case records events and compares them with the exact expected list.
local shoal = require "shoal"
local t = require "testlib"

local cases = {}

function cases.forks_run_after_the_handler_in_order()
	local svc = shoal.newservice("coro_svc")
	t.eq(shoal.call(svc, "lua", "fork_two"), "forked", "reply")
	-- the next message is handled after the forks of the previous one ran
	t.same(shoal.call(svc, "lua", "events"), {
		"handler begins", "handler returns", "f1 x y", "f2", "f3",
	}, "events")
	shoal.kill(svc)
end

function cases.forks_run_when_the_current_coroutine_yields()
	local events = {}
	local me = coroutine.running()
	local co = shoal.fork(function(v)
		events[#events + 1] = "fork " .. v
	end, 1)
	t.eq(type(co), "thread", "fork returns the coroutine")
	shoal.fork(function(v)
		events[#events + 1] = "fork " .. v
		shoal.wakeup(me)
	end, 2)
	events[#events + 1] = "main"
	t.eq(shoal.sleep(1000), "BREAK", "woken by the second fork")
	events[#events + 1] = "main resumed"
	t.same(events, { "main", "fork 1", "fork 2", "main resumed" }, "events")
end

function cases.fork_arguments_and_failures()
	local got = {}
	shoal.fork(function(...)
		got.args = table.pack(...)
	end, nil, 2, nil, { 3 }, nil)
	shoal.fork(function()
		error("a forked coroutine fails on purpose (logged)")
	end)
	shoal.fork(function()
		got.after = true
	end)
	shoal.yield()
	t.values(got.args, table.pack(nil, 2, nil, { 3 }, nil), "fork arguments")
	t.ok(got.after, "the fork after a failed one ran")
end

function cases.sleeps_wake_in_due_order()
	local events = {}
	local t0 = shoal.now()
	local results = t.join({
		function()
			shoal.sleep(40)
			events[#events + 1] = "40"
		end,
		function()
			shoal.sleep(20)
			events[#events + 1] = "20"
		end,
		function()
			shoal.sleep(10)
			events[#events + 1] = "10"
		end,
		function()
			events[#events + 1] = "0"
		end,
	}, 2000)
	t.same(events, { "0", "10", "20", "40" }, "events")
	t.ok(results[1].ms >= 39, "sleep(40) slept at least 39 ms (" .. results[1].ms .. ")")
	t.ok(results[3].ms >= 9, "sleep(10) slept at least 9 ms (" .. results[3].ms .. ")")
	t.ok(shoal.now() - t0 < 1000, "sleeps ended in time")
end

function cases.wakeup_resumes_after_the_current_message()
	-- in a handler of another service
	local svc = shoal.newservice("coro_svc")
	shoal.send(svc, "lua", "park")
	shoal.send(svc, "lua", "wake")
	t.same(shoal.call(svc, "lua", "events"), {
		"parked waits", "wake begins", "wakeup true", "wakeup again false", "wake returns", "parked woken",
	}, "events")
	shoal.kill(svc)
	-- and here
	local events = {}
	local waiter = shoal.fork(function()
		events[#events + 1] = "waits"
		local r = table.pack(shoal.wait())
		events[#events + 1] = "woken with " .. r.n .. " values"
	end)
	shoal.yield() -- the fork runs and waits
	events[#events + 1] = "wakeup " .. tostring(shoal.wakeup(waiter))
	events[#events + 1] = "still running"
	shoal.yield()
	t.same(events, { "waits", "wakeup true", "still running", "woken with 0 values" }, "events")
end

function cases.wakeup_breaks_a_sleep()
	local got
	local sleeper = shoal.fork(function()
		local t0 = shoal.now()
		got = table.pack(shoal.sleep(10000))
		got.ms = shoal.now() - t0
	end)
	shoal.yield()
	t.eq(shoal.wakeup(sleeper), true, "wakeup of a sleeping coroutine")
	t.eq(shoal.wakeup(sleeper), false, "second wakeup")
	shoal.yield()
	t.ok(got, "the sleeper resumed")
	t.values(got, table.pack("BREAK"), "sleep result")
	t.ok(got.ms < 1000, "woken early (" .. got.ms .. " ms)")
	-- a sleep that ends normally returns nothing
	t.values(table.pack(shoal.sleep(1)), table.pack(), "sleep result")
end

function cases.timeout_runs_fn()
	local me = coroutine.running()
	local events = {}
	local t0 = shoal.now()
	shoal.timeout(30, function()
		events[#events + 1] = "30"
		shoal.wakeup(me)
	end)
	shoal.timeout(10, function()
		events[#events + 1] = "10"
	end)
	events[#events + 1] = "armed"
	t.eq(shoal.sleep(2000), "BREAK", "woken by the timeout function")
	t.same(events, { "armed", "10", "30" }, "events")
	t.between(shoal.now() - t0, 29, 1000, "elapsed ms")
end

function cases.wakeup_of_a_non_blocked_coroutine()
	t.eq(shoal.wakeup(coroutine.running()), false, "the running coroutine")
	local done = shoal.fork(function() end)
	shoal.yield()
	t.eq(shoal.wakeup(done), false, "a finished coroutine")
	t.eq(shoal.wakeup(coroutine.create(function() end)), false, "a new coroutine")
	-- a coroutine blocked in a call is not in wait or sleep
	local svc = shoal.newservice("hang_svc")
	local caller = shoal.fork(function()
		pcall(shoal.calltimeout, 100, svc, "lua", "hang")
	end)
	shoal.yield()
	t.eq(shoal.wakeup(caller), false, "a coroutine waiting for a call")
	shoal.kill(svc)
end

-- shoal.parallel: all at once, each one's result in the order given, a
-- raise is that one's result only, and it returns when the slowest ended.
function cases.parallel_runs_all_at_once()
	local t0 = shoal.now()
	local r = shoal.parallel {
		function() shoal.sleep(100) return "a", 1 end,
		function() shoal.sleep(100) error("b failed", 0) end,
		function() return "c" end,
	}
	local ms = shoal.now() - t0
	t.ok(ms >= 90 and ms < 190, "the sleeps ran at once: " .. ms .. " ms")
	t.same({ r[1][1], r[1][2], r[1][3] }, { true, "a", 1 }, "the first's results")
	t.same({ r[2][1], r[2][2] }, { false, "b failed" }, "the second raised")
	t.same({ r[3][1], r[3][2] }, { true, "c" }, "the third")
	t.same(shoal.parallel {}, {}, "none: at once")
end

t.start(cases, {
	"parallel_runs_all_at_once",
	"forks_run_after_the_handler_in_order",
	"forks_run_when_the_current_coroutine_yields",
	"fork_arguments_and_failures",
	"sleeps_wake_in_due_order",
	"wakeup_resumes_after_the_current_message",
	"wakeup_breaks_a_sleep",
	"timeout_runs_fn",
	"wakeup_of_a_non_blocked_coroutine",
})
