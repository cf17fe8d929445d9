-- bench_cluster_main: node 1's side of `bench/run cluster`; the other end
-- is bench_cluster_peer (".bench" on node 2). Mode "figures" prints
-- "BENCH name value unit" lines; mode "detect" runs failure-detection
-- trials driven by bench/run (see the protocol below).
local shoal = require "shoal"

local mode = ...
local PEER_NODE = 2

local function report(name, value, unit)
	io.write(string.format("BENCH %s %s %s\n", name, value, unit))
	io.flush()
end

local function say(...)
	io.write(table.concat({ ... }, " "), "\n")
	io.flush()
end

-- The handle of ".bench" on node 2, asked from node 2's harbor until the
-- node answers (it may be starting, or node 1 may still be redialing).
local function find_peer(limit_ms)
	local deadline = shoal.now() + limit_ms
	local why
	while shoal.now() < deadline do
		local ok, reply = pcall(shoal.calltimeout, 1000, shoal.harbor_of(PEER_NODE), "text", "query .bench")
		if ok then
			return tonumber(reply:sub(2), 16)
		end
		why = reply
		shoal.sleep(20)
	end
	error("node 2 did not answer within " .. limit_ms .. " ms: " .. tostring(why))
end

-- Runs fn(k) in `width` coroutines (k = 1..width) and waits for all.
local function parallel(width, fn)
	local me, left = coroutine.running(), width
	for k = 1, width do
		shoal.fork(function()
			fn(k)
			left = left - 1
			if left == 0 then
				shoal.wakeup(me)
			end
		end)
	end
	shoal.wait()
end

local function per_s(n, ns)
	return math.floor(n / (ns / 1e9))
end

-- Round trips with one call in flight.
local function call_1(peer, n)
	local call = shoal.call
	for i = 1, 1000 do
		call(peer, "lua", "echo", i) -- warm up
	end
	local t0 = shoal.hpc()
	for i = 1, n do
		if call(peer, "lua", "echo", i) ~= i then
			error("call_1: wrong echo for " .. i)
		end
	end
	return per_s(n, shoal.hpc() - t0)
end

-- Round trips with `width` calls in flight (one per coroutine).
local function call_n(peer, n, width)
	local call = shoal.call
	local each = n // width
	local t0 = shoal.hpc()
	parallel(width, function()
		for i = 1, each do
			if call(peer, "lua", "echo", i) ~= i then
				error("call_n: wrong echo for " .. i)
			end
		end
	end)
	return per_s(each * width, shoal.hpc() - t0)
end

-- One-way sends until the receiver counted n; a full node queue (send
-- returns false, "resource limit reached") makes the sender sleep 1 ms and
-- retry the same message. Returns msgs/s and the number of such waits.
local function oneway(peer, n, limit_ms)
	shoal.call(peer, "lua", "expect", n)
	local send, full = shoal.send, 0
	local deadline = shoal.now() + limit_ms
	local t0 = shoal.hpc()
	local i = 1
	while i <= n do
		local ok, err = send(peer, "lua", "ping", i)
		if ok then
			i = i + 1
		elseif err == "resource limit reached" then
			full = full + 1
			if shoal.now() > deadline then
				error(string.format("oneway: only %d of %d sent in %d ms", i - 1, n, limit_ms))
			end
			shoal.sleep(1)
		else
			error("oneway: send failed: " .. tostring(err))
		end
	end
	local left = deadline - shoal.now()
	local ok, t1 = pcall(shoal.calltimeout, left > 1000 and left or 1000, peer, "lua", "wait")
	if not ok then
		error(string.format("oneway: the receiver did not count %d messages in time (got %s): %s", n,
			tostring(select(2, pcall(shoal.call, peer, "lua", "received"))), t1))
	end
	return per_s(n, t1 - t0), full
end

local function figures()
	local peer = find_peer(10000)
	local env = function(k, d)
		return tonumber(shoal.getenv(k) or "") or d
	end
	report("cluster_call_1_per_s", call_1(peer, env("bench_cluster_call1_n", 100000)), "calls/s")
	report("cluster_call_per_s", call_n(peer, env("bench_cluster_call_n", 640000), 64), "calls/s")
	local rate, full = oneway(peer, env("bench_cluster_oneway_n", 2000000), 60000)
	report("cluster_oneway_msgs_per_s", rate, "msgs/s")
	report("cluster_oneway_full_waits", full, "waits")
end

-- Failure detection, `trials` times:
--   1. wait until node 2 answers; start 100 calls "sleep 60000" to it and
--      make sure node 2 holds all 100 (its "sleepers" count);
--   2. print "DETECT_READY <trial>": bench/run reads it, takes
--      CLOCK_MONOTONIC and SIGSTOPs node 2;
--   3. when all 100 calls have failed print "DETECT_DONE <trial> <ns of the
--      last failure> <ns of the first> <failed> <succeeded> <first error>"
--      (shoal.hpc is CLOCK_MONOTONIC too, so bench/run subtracts);
--   4. bench/run kills and restarts node 2; next trial.
local function detect(trials)
	for trial = 1, trials do
		local peer = find_peer(30000)
		local failed, succeeded, first, last, first_err = 0, 0, nil, nil, nil
		local me, left, ready = coroutine.running(), 100, false
		for _ = 1, 100 do
			shoal.fork(function()
				local ok, err = pcall(shoal.calltimeout, 60000, peer, "lua", "sleep", 60000)
				local t = shoal.hpc()
				if ok then
					succeeded = succeeded + 1
				else
					failed = failed + 1
					first = first or t
					first_err = first_err or tostring(err)
				end
				last = t
				left = left - 1
				if left == 0 and ready then
					shoal.wakeup(me)
				end
			end)
		end
		local deadline = shoal.now() + 10000
		while shoal.call(peer, "lua", "sleepers") < 100 do
			if shoal.now() > deadline then
				error("detect: node 2 did not receive the 100 calls")
			end
			shoal.sleep(5)
		end
		ready = true
		say("DETECT_READY", trial)
		if left > 0 then
			shoal.wait()
		end
		say("DETECT_DONE", trial, last, first or 0, failed, succeeded, ((first_err or ""):gsub("%s+", "_")))
	end
	say("DETECT_END")
end

shoal.start(function()
	local ok, err = pcall(mode == "detect" and function()
		detect(tonumber(shoal.getenv("bench_detect_trials") or "") or 20)
	end or figures)
	if not ok then
		say("BENCH_ERROR", (tostring(err):gsub("\n", " ")))
		shoal.abort(1)
	end
	shoal.abort(0)
end)
