-- bench_main: runs the named benchmarks and prints "BENCH name value unit".
local shoal = require "shoal"

local which = ...

local function report(name, value, unit)
	io.write(string.format("BENCH %s %s %s\n", name, value, unit))
	io.flush()
end

local function rss_kb()
	local f = assert(io.open("/proc/self/status"))
	local s = f:read("a")
	f:close()
	return tonumber(s:match("VmRSS:%s*(%d+)"))
end

local benches = {}

-- (a) one service sends 1,000,000 small messages to another; timed from
-- the first send until the receiver handled the last one.
function benches.oneway()
	local n = tonumber(shoal.getenv("bench_oneway_n")) or 1000000
	local recv = shoal.newservice("bench_peer")
	local send = shoal.newservice("bench_peer")
	shoal.call(recv, "lua", "expect", n)
	local t0 = shoal.call(send, "lua", "flood", recv, n)
	local t1 = shoal.call(recv, "lua", "wait")
	report("oneway_msgs_per_s", math.floor(n / ((t1 - t0) / 1e9)), "msgs/s")
	shoal.kill(recv)
	shoal.kill(send)
end

-- (b) 200,000 calls, one at a time, between two Lua services.
function benches.call()
	local n = tonumber(shoal.getenv("bench_call_n")) or 200000
	local a = shoal.newservice("bench_peer")
	local b = shoal.newservice("bench_peer")
	local ns = shoal.call(a, "lua", "callloop", b, n)
	report("call_rtt_per_s", math.floor(n / (ns / 1e9)), "calls/s")
	shoal.kill(a)
	shoal.kill(b)
end

-- (c) start 10,000 trivial services; resident memory per idle service.
function benches.spawn()
	local n = tonumber(shoal.getenv("bench_spawn_n")) or 10000
	collectgarbage()
	local before = rss_kb()
	local handles = {}
	local t0 = shoal.hpc()
	for i = 1, n do
		handles[i] = shoal.newservice("bench_idle")
	end
	local t1 = shoal.hpc()
	local after = rss_kb()
	report("spawn_10k_s", string.format("%.3f", (t1 - t0) / 1e9 * (10000 / n)), "s")
	report("idle_service_kb", string.format("%.1f", (after - before) / n), "KB")
	for i = 1, n do
		shoal.kill(handles[i])
	end
end

-- (d) baseappmgr's choice (lualib/game/balance.lua): picks per second of
-- a balancer over 10 baseapp records, for the score and the consistent-hash
-- strategies (the hash one: a distinct account per pick, the ring cached).
-- Every pick goes through the balancer as the service makes it: input
-- checks, the pending count, the high-water rule.
function benches.balance()
	local balance = require "game.balance"
	local n = tonumber(shoal.getenv("bench_balance_n")) or 200000
	local list = {}
	for i = 1, 10 do
		list[i] = { id = "baseapp-" .. i, node = i, host = "127.0.0.1", port = 7000 + i, state = "alive",
			online = 100 * i, cpu = 5 * i, mem = 50 * i, starting = false, max_online = 100000 }
	end
	for _, s in ipairs({ "score", "consistent_hash" }) do
		local opts = balance.config(shoal.config)
		opts.strategy = s
		local b = balance.new(opts)
		local t0 = shoal.hpc()
		for i = 1, n do
			local rec = b:pick(list, i)
			if rec == nil then
				error("bench balance: no pick")
			end
			if i % 1000 == 0 then -- a status report, as from the heartbeats
				b:reported(rec.id)
			end
		end
		local t1 = shoal.hpc()
		report("balance_picks_per_s_" .. (s == "score" and "score" or "hash"), math.floor(n / ((t1 - t0) / 1e9)),
			"picks/s")
	end
end

-- (e) shoal.crypto: password hashes per second through the helper pool
-- (config crypto_threads, 2 by default) at the default cost and at a low
-- test cost, n hashes in flight at once from n coroutines (n under the
-- queue bound, crypto_queue); and 64-byte
-- AEAD frames sealed then opened, one at a time, in this service.
local function kdf_rate(name, opts, n)
	local crypto = require "shoal.crypto"
	local me, left = coroutine.running(), n
	local t0 = shoal.hpc()
	for _ = 1, n do
		shoal.fork(function()
			local ok, enc, code = pcall(crypto.hash_password, "bench password", opts)
			left = left - 1
			if not (ok and enc) then
				shoal.error("bench crypto: hash failed: " .. tostring(code or enc))
				shoal.abort(1)
			end
			if left == 0 then
				shoal.wakeup(me)
			end
		end)
	end
	shoal.wait()
	report("kdf_hashes_per_s_" .. name, string.format("%.1f", n / ((shoal.hpc() - t0) / 1e9)), "hashes/s")
end

function benches.crypto()
	local crypto = require "shoal.crypto"
	kdf_rate("scrypt_n16384_r8_p1", nil, tonumber(shoal.getenv("bench_kdf_n")) or 16)
	kdf_rate("scrypt_n1024_r1_p1", { kdf = "scrypt", n = 1024, r = 1, p = 1 }, 200)
	kdf_rate("pbkdf2_600000", { kdf = "pbkdf2-sha256", iter = 600000 }, 4)
	local key = crypto.random(32)
	local tx, rx = crypto.sealer(key), crypto.opener(key)
	local payload = crypto.random(64)
	local n = tonumber(shoal.getenv("bench_aead_n")) or 200000
	local t0 = shoal.hpc()
	for _ = 1, n do
		assert(rx:open(tx:seal(payload)))
	end
	report("aead_frames_per_s_64b", math.floor(n / ((shoal.hpc() - t0) / 1e9)), "frames/s")
end

-- (f) shoal.aoi: moves per second with neighbour events (bench/lua/bench_aoi.lua).
function benches.aoi()
	require "bench_aoi"(report, tonumber(shoal.getenv("bench_aoi_seconds")) or 2)
end

local order = { "oneway", "call", "spawn" }

shoal.start(function()
	if which == "all" then
		for _, name in ipairs(order) do
			benches[name]()
		end
	else
		local f = benches[which]
		if not f then
			error("unknown benchmark " .. tostring(which))
		end
		f()
	end
	shoal.abort(0)
end)
