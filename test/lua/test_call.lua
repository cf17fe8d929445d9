-- test_call: request/response round trips, explicit and deferred replies,
-- error cases of send/call, and a large one-way message.
local shoal = require "shoal"
local t = require "testlib"

local svc -- a call_svc instance
local cases = {}

function cases.multiple_values_with_nils()
	local r = table.pack(shoal.call(svc, "lua", "multi"))
	t.values(r, table.pack(1, nil, "three",
		{ a = { b = { c = "deep" } }, list = { 1, 2, { 3, 4 } }, [10] = false }, nil), "multi")
	-- arguments travel the same way
	local args = table.pack(nil, 2, nil, { x = { y = { z = 1.5 } } }, "", false)
	t.values(table.pack(shoal.call(svc, "lua", "echo", table.unpack(args, 1, args.n))), args, "echo")
	t.values(table.pack(shoal.call(svc, "lua", "echo")), table.pack(), "echo of nothing")
end

function cases.ret_explicit()
	t.values(table.pack(shoal.call(svc, "lua", "ret_explicit")), table.pack("a", nil, "c"), "ret")
	-- the handler's own return value was not sent as a second reply: the
	-- next call gets its own answer
	t.eq(shoal.call(svc, "lua", "ping"), "pong", "call after ret")
	t.eq(shoal.call(svc, "lua", "ret_twice"), "first", "ret_twice reply")
	t.contains(shoal.call(svc, "lua", "last_err"), "no request to answer", "second ret")
end

function cases.deferred_response()
	local t0 = shoal.now()
	local r = table.pack(shoal.call(svc, "lua", "defer", 30, "later", nil, { k = { "v" } }))
	t.values(r, table.pack("later", nil, { k = { "v" } }), "deferred reply")
	t.ok(shoal.now() - t0 >= 25, "deferred reply came after the responder's sleep")
end

function cases.deferred_failure()
	local err = t.raises("custom failure xyz", shoal.call, svc, "lua", "defer_fail", 10, "custom failure xyz")
	t.contains(err, shoal.address(svc), "error names the callee")
	t.eq(shoal.call(svc, "lua", "ping"), "pong", "service alive after deferred failure")
end

function cases.responder_used_twice()
	t.eq(shoal.call(svc, "lua", "defer_twice"), "once", "first answer")
	t.contains(shoal.call(svc, "lua", "last_err"), "already answered", "second answer")
end

function cases.ret_in_oneway_handler()
	t.eq(shoal.send(svc, "lua", "ret_oneway_caught"), true, "send")
	t.contains(shoal.call(svc, "lua", "last_err"), "no request to answer", "ret in one-way message")
	-- uncaught: the handler fails (logged); the sender is not affected and
	-- gets no stray message: the next call returns its own reply
	t.eq(shoal.send(svc, "lua", "ret_oneway"), true, "send")
	t.eq(shoal.call(svc, "lua", "ping"), "pong", "call after a failed one-way handler")
	t.values(table.pack(shoal.call(svc, "lua", "echo", 1, 2)), table.pack(1, 2), "echo after")
end

function cases.send_to_dead_or_unknown()
	local ok, err = shoal.send(0x01fedcba, "lua", "ping")
	t.eq(ok, false, "send to unknown handle")
	t.contains(err, "no such service", "send to unknown handle")
	ok, err = shoal.send(".nosuch", "lua", "ping")
	t.eq(ok, false, "send to unknown name")
	t.contains(err, "no such service", "send to unknown name")
	local victim = shoal.newservice("call_svc")
	t.eq(shoal.call(victim, "lua", "ping"), "pong", "victim alive")
	t.eq(shoal.kill(victim), true, "kill")
	ok, err = shoal.send(victim, "lua", "ping")
	t.eq(ok, false, "send to killed service")
	t.contains(err, "no such service", "send to killed service")
	local k, kerr = shoal.kill(victim)
	t.eq(k, false, "second kill")
	t.contains(kerr, "no such service", "second kill")
end

function cases.call_to_dead_or_unknown()
	t.raises("no such service", shoal.call, 0x01fedcba, "lua", "ping")
	t.raises("no such service", shoal.call, ".nosuch", "lua", "ping")
	local victim = shoal.newservice("call_svc")
	shoal.kill(victim)
	local err = t.raises("no such service", shoal.call, victim, "lua", "ping")
	t.contains(err, shoal.address(victim), "error names the handle")
	t.raises("no such service", shoal.calltimeout, 100, victim, "lua", "ping")
end

function cases.large_oneway_message()
	-- 1 MB of varied bytes (every byte value, no repetition at short periods)
	local parts = {}
	local x = 12345
	for i = 1, 1024 do
		local chunk = {}
		for j = 1, 1024 do
			x = (x * 1103515245 + 12345) % 2147483648
			chunk[j] = string.char((x >> 16) & 0xff)
		end
		parts[i] = table.concat(chunk)
	end
	local s = table.concat(parts)
	t.eq(#s, 1024 * 1024, "blob size")
	t.eq(shoal.send(svc, "lua", "blob", s), true, "send blob")
	local n, back = shoal.call(svc, "lua", "blob_get")
	t.eq(n, #s, "received size")
	t.ok(back == s, "received bytes are intact")
end

-- A worker puts off waking another until its message ends; a message that
-- runs long must not hold back what it sent while another worker idles.
-- call_svc sends to two targets (the first goes to the global queue, the
-- second to its worker's hand-off slot), then keeps its worker busy for
-- 2 s; both must arrive long before that (typically within 2 ms: the timer
-- thread moves a hand-off older than 1 ms to the global queue and wakes a
-- sleeper; the bound is loose because other tests load the machine).
function cases.busy_sender_does_not_hold_back_its_sends()
	local other = shoal.newservice("trivial_svc")
	local arrived, sleeper
	shoal.dispatch("lua", function(_, _, cmd)
		if cmd == "woken" then
			arrived = shoal.now()
			shoal.wakeup(sleeper)
		end
	end)
	for round = 1, 2 do
		arrived, sleeper = nil, coroutine.running()
		local t0 = shoal.now()
		shoal.send(svc, "lua", "send_then_spin", 2000, shoal.self(), other)
		-- One timer only: polling with short sleeps would wake a worker
		-- every millisecond and hide a wake-up that never came.
		shoal.sleep(3000)
		t.ok(arrived, "round " .. round .. ": the message arrived")
		-- Held back, it would arrive when the sender's 2000 ms end: before
		-- that (with room for a loaded machine) means it was not.
		t.ok(arrived - t0 < 1900, string.format("round %d: arrived after %d ms, while the sender was busy for 2000 ms",
			round, arrived - t0))
		shoal.log(string.format("round %d: arrived after %d ms", round, arrived - t0))
		t.eq(shoal.call(other, "lua", "ping"), "pong", "the other target answers")
		shoal.sleep(2000 - (shoal.now() - t0) + 50) -- let the sender finish
	end
end

t.start(cases, {
	"multiple_values_with_nils",
	"ret_explicit",
	"deferred_response",
	"deferred_failure",
	"responder_used_twice",
	"ret_in_oneway_handler",
	"send_to_dead_or_unknown",
	"call_to_dead_or_unknown",
	"large_oneway_message",
	"busy_sender_does_not_hold_back_its_sends",
}, function()
	svc = shoal.newservice("call_svc")
end)
