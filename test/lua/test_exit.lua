-- test_exit: callers waiting on a service fail at once (not at their
-- timeout) when it exits or is killed; remote errors carry the remote
-- file name and traceback.
local shoal = require "shoal"
local t = require "testlib"

local cases = {}

-- n callers wait on svc: half took a deferred request (shoal.response), half
-- are held by a handler that sleeps 10 s. Then stop(svc) runs (in a
-- coroutine forked after them, so their requests are queued first). Every
-- caller must fail with "exited" within 1000 ms of the stop.
local function callers_fail_when_stopped(n, stop)
	local svc = shoal.newservice("exit_svc")
	local stopped_at
	local fns = {}
	for i = 1, n do
		fns[i] = function()
			if i % 2 == 0 then
				return shoal.call(svc, "lua", "sleep", 10000)
			end
			return shoal.call(svc, "lua", "defer")
		end
	end
	fns[n + 1] = function()
		t.values(table.pack(shoal.call(svc, "lua", "count")), table.pack(n - n // 2, n // 2),
			"requests held before the stop")
		stopped_at = shoal.now()
		stop(svc)
	end
	local results = t.join(fns, 8000)
	t.values(results[n + 1], table.pack(true), "stopper")
	for i = 1, n do
		local r = results[i]
		t.eq(r[1], false, "caller " .. i)
		t.contains(r[2], "exited", "caller " .. i)
		t.contains(r[2], shoal.address(svc), "caller " .. i)
		t.ok(r.ms < 1000, "caller " .. i .. " failed in < 1000 ms (took " .. r.ms .. ")")
		t.ok(shoal.now() - stopped_at < 1000, "callers failed within 1000 ms of the stop")
	end
	t.raises("no such service", shoal.call, svc, "lua", "ping")
end

function cases.exit_fails_waiting_callers()
	callers_fail_when_stopped(20, function(svc)
		t.eq(shoal.send(svc, "lua", "exit"), true, "send exit")
	end)
end

function cases.kill_fails_waiting_callers()
	callers_fail_when_stopped(20, function(svc)
		t.eq(shoal.kill(svc), true, "kill")
	end)
end

function cases.requests_queued_behind_exit_fail()
	local svc = shoal.newservice("exit_svc")
	-- the service spins until the requests below are queued (the last
	-- coroutine binds the name once the others sent theirs), so they wait
	-- behind the exit request
	local go = ".test_exit_go"
	t.eq(shoal.send(svc, "lua", "busy_until_named", go, 3000), true, "send busy")
	local fns = {
		function()
			return shoal.call(svc, "lua", "exit")
		end,
	}
	for i = 2, 11 do
		fns[i] = function()
			return shoal.call(svc, "lua", "ping")
		end
	end
	fns[12] = function()
		shoal.name(go)
	end
	local results = t.join(fns, 8000)
	t.values(results[12], table.pack(true), "name bound")
	for i = 1, 11 do
		local r = results[i]
		t.eq(r[1], false, "request " .. i)
		t.contains(r[2], "exited", "request " .. i)
		t.ok(r.ms < 1000, "request " .. i .. " failed at once (took " .. r.ms .. " ms)")
	end
	t.raises("no such service", shoal.call, svc, "lua", "ping")
end

function cases.remote_error_carries_file_and_traceback()
	local svc = shoal.newservice("exit_svc")
	local err = t.raises("boom on purpose", shoal.call, svc, "lua", "boom")
	t.contains(err, "exit_svc.lua", "remote file name")
	t.contains(err, "stack traceback", "remote traceback")
	t.contains(err, shoal.address(svc), "callee address")
	-- two hops: the relay's error wraps the first callee's
	local relay = shoal.newservice("exit_svc")
	err = t.raises("boom on purpose", shoal.call, relay, "lua", "relay", svc, "boom")
	t.contains(err, shoal.address(relay), "outer callee")
	t.contains(err, shoal.address(svc), "inner callee")
	-- a non-string error value still fails the caller
	t.raises(shoal.address(svc), shoal.call, svc, "lua", "boom_table")
	-- the failing handlers did not hurt the services
	t.eq(shoal.call(svc, "lua", "ping"), "pong", "callee alive")
	t.eq(shoal.call(relay, "lua", "ping"), "pong", "relay alive")
	shoal.kill(svc)
	shoal.kill(relay)
end

function cases.newservice_fails_at_once_when_start_exits()
	local ms, r = t.timed(shoal.newservice, "start_exit_svc", "exit")
	t.eq(r[1], false, "newservice of a service that exits in its start function")
	t.contains(r[2], "exited", "error")
	t.ok(ms < 1000, "failed at once (took " .. ms .. " ms)")
end

function cases.newservice_fails_at_once_when_killed_during_start()
	local name = ".start_exit_sleeping"
	local results = t.join({
		function()
			return shoal.newservice("start_exit_svc", "sleep", name)
		end,
		function()
			-- the start function is running once it bound the name
			local h = t.wait_until(function()
				return shoal.localname(name)
			end, 1000, 5, "the new service's start function runs")
			t.eq(shoal.kill(h), true, "kill")
		end,
	}, 8000)
	t.values(results[2], table.pack(true), "killer")
	t.eq(results[1][1], false, "newservice of a service killed in its start function")
	t.contains(results[1][2], "exited", "error")
	t.ok(results[1].ms < 1000, "failed at once (took " .. results[1].ms .. " ms)")
end

t.start(cases, {
	"exit_fails_waiting_callers",
	"kill_fails_waiting_callers",
	"requests_queued_behind_exit_fail",
	"remote_error_carries_file_and_traceback",
	-- "timed out" instead of failing at once with "exited".
	"newservice_fails_at_once_when_start_exits",
	"newservice_fails_at_once_when_killed_during_start",
})
