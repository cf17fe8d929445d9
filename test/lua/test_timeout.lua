-- test_timeout: call timeouts (calltimeout and the config's call_timeout,
-- 5000 ms in the test config).
local shoal = require "shoal"
local t = require "testlib"

local svc -- a hang_svc instance
local cases = {}

function cases.calltimeout_fails_in_time()
	local ms, r = t.timed(shoal.calltimeout, 200, svc, "lua", "hang")
	t.eq(r[1], false, "call to a service that never answers")
	t.contains(r[2], "timed out after 200 ms", "error")
	t.contains(r[2], shoal.address(svc), "error names the callee")
	t.between(ms, 190, 1999, "elapsed ms")
	t.eq(shoal.call(svc, "lua", "ping"), "pong", "service still answers")
end

function cases.calltimeout_rejects_bad_values()
	t.raises("positive", shoal.calltimeout, 0, svc, "lua", "ping")
	t.raises("positive", shoal.calltimeout, -5, svc, "lua", "ping")
	t.raises("positive", shoal.calltimeout, "100", svc, "lua", "ping")
end

function cases.concurrent_timeouts_fail_in_due_order()
	local timeouts = { 100, 300, 200 }
	local fns = {}
	for i, ms in ipairs(timeouts) do
		fns[i] = function()
			return shoal.calltimeout(ms, svc, "lua", "hang")
		end
	end
	local results, order = t.join(fns, 3000)
	t.same(order, { 1, 3, 2 }, "finishing order (100, 200, 300 ms)")
	for i, ms in ipairs(timeouts) do
		local r = results[i]
		t.eq(r[1], false, "call " .. i)
		t.contains(r[2], string.format("timed out after %d ms", ms), "call " .. i)
		t.between(r.ms, ms - 10, ms + 1000, "call " .. i .. " elapsed ms")
	end
end

function cases.same_timeout_mixed_with_answered_calls()
	-- calls with one timeout value share a queue of deadlines: answered
	-- calls in it must not delay or break the expiry of the others
	local fns = {}
	for i = 1, 10 do
		if i % 2 == 0 then
			fns[i] = function()
				return shoal.calltimeout(150, svc, "lua", "ping")
			end
		else
			fns[i] = function()
				return shoal.calltimeout(150, svc, "lua", "hang")
			end
		end
	end
	local results = t.join(fns, 3000)
	for i = 1, 10 do
		local r = results[i]
		if i % 2 == 0 then
			t.values(r, table.pack(true, "pong"), "answered call " .. i)
		else
			t.eq(r[1], false, "hanging call " .. i)
			t.contains(r[2], "timed out after 150 ms", "hanging call " .. i)
			t.between(r.ms, 140, 1150, "hanging call " .. i .. " elapsed ms")
		end
	end
end

function cases.late_reply_is_ignored()
	local ms, r = t.timed(shoal.calltimeout, 100, svc, "lua", "late", 300, "too late")
	t.eq(r[1], false, "call answered after its timeout")
	t.contains(r[2], "timed out after 100 ms", "error")
	t.between(ms, 90, 1099, "elapsed ms")
	-- answered only after the late reply was sent to us: both arrive in
	-- order, and the late one must not be taken for this call's answer
	t.values(table.pack(shoal.call(svc, "lua", "after_late")), table.pack("after_late"), "next call")
	t.values(table.pack(shoal.calltimeout(1000, svc, "lua", "ping")), table.pack("pong"), "call after")
end

function cases.default_timeout()
	t.eq(shoal.config("call_timeout"), 5000, "test config call_timeout")
	local ms, r = t.timed(shoal.call, svc, "lua", "hang")
	t.eq(r[1], false, "call to a service that never answers")
	t.contains(r[2], "timed out after 5000 ms", "error")
	t.between(ms, 4900, 7999, "elapsed ms")
end

function cases.out_of_range_timeout_does_not_shift_replies()
	local echo = shoal.newservice("call_svc")
	-- 2^31 ms is past what the timer takes: the call may raise, but it must
	-- not leave its reply to be taken by the next call of this coroutine
	pcall(shoal.calltimeout, 1 << 31, echo, "lua", "echo", "stale")
	t.values(table.pack(shoal.calltimeout(1000, echo, "lua", "defer", 20, "mine")), table.pack("mine"),
		"next call")
	t.values(table.pack(shoal.calltimeout(1000, echo, "lua", "echo", "again")), table.pack("again"),
		"call after")
	shoal.kill(echo)
end

t.start(cases, {
	"calltimeout_fails_in_time",
	"calltimeout_rejects_bad_values",
	"concurrent_timeouts_fail_in_due_order",
	"same_timeout_mixed_with_answered_calls",
	"late_reply_is_ignored",
	"default_timeout",
	"out_of_range_timeout_does_not_shift_replies",
}, function()
	svc = shoal.newservice("hang_svc")
end)
