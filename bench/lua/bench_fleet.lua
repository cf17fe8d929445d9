-- bench_fleet: the dsagent figures (bench/run fleet; docs/dsagent.md). The
-- run's config points dsagent_fleets at a file with the fleet "bench":
-- build/example_ds with --match-ms 0 (a match ends at once), pool 4, max 12.
--   ds_ready_ms     the median of a DS's cold start to READY (the keeper's
--                   spawn, its fork and exec of example_ds, READY read by
--                   the agent), over the last 256 starts
--   ds_churn_per_s  whole cycles a second: allocate a ready DS, its match
--                   ends, it exits, the keeper reaps its tree, the agent
--                   reaps the keeper, a replacement starts and gets READY
--   ds_alloc_per_s, ds_alloc_p99_ms
--                   the fleet "warm" (pool = max = BENCH_FLEET_WARM, 400:
--                   no start during the burst): 8 callers allocate all of
--                   them at once through the dscontroller (which asks the
--                   agent), each allocation timed from the call to the answer
local shoal = require "shoal"

local CYCLES = tonumber(os.getenv("BENCH_FLEET_CYCLES") or "2000")

local function out(name, value, unit)
	io.write(string.format("BENCH %s %s %s\n", name, value, unit))
	io.flush()
end

local WARM = tonumber(os.getenv("BENCH_FLEET_WARM") or "400")
local CALLERS = 8

local function alloc_burst(ctl)
	local lat, done, me = {}, 0, coroutine.running()
	local t0 = shoal.hpc()
	for c = 1, CALLERS do
		shoal.fork(function()
			for _ = 1, WARM // CALLERS do
				local t = shoal.hpc()
				local r = shoal.call(ctl, "lua", "allocate", "warm", "m")
				if r and r.id then
					lat[#lat + 1] = (shoal.hpc() - t) / 1e6
				end
			end
			done = done + 1
			if done == CALLERS then
				shoal.wakeup(me)
			end
		end)
	end
	shoal.wait()
	local secs = (shoal.hpc() - t0) / 1e9
	table.sort(lat)
	if #lat < WARM // CALLERS * CALLERS then
		io.stderr:write(string.format("bench_fleet: only %d of %d warm allocations succeeded\n", #lat, WARM))
		return
	end
	out("ds_alloc_per_s", string.format("%.0f", #lat / secs), "/s")
	out("ds_alloc_p99_ms", string.format("%.3f", lat[math.ceil(#lat * 0.99)]), "ms")
end

shoal.start(function()
	local ctl = shoal.newservice("dscontroller")
	shoal.name(".dscontroller", ctl)
	local ds = shoal.newservice("dsagent")
	local function ready(fleet)
		return shoal.call(ds, "lua", "load").fleets[fleet or "bench"].ready
	end
	local deadline = shoal.now() + 60000
	while (ready() < 4 or ready("warm") < WARM) and shoal.now() < deadline do
		shoal.sleep(20)
	end
	shoal.sleep(200) -- the last READYs' reports reach the controller
	alloc_burst(ctl)
	deadline = shoal.now() + 10000
	local t0, done, misses = shoal.hpc(), 0, 0
	deadline = shoal.now() + 120000
	while done < CYCLES and shoal.now() < deadline do
		if shoal.call(ds, "lua", "allocate", "bench", "m") then
			done = done + 1
		else
			misses = misses + 1
			shoal.sleep(1)
		end
	end
	local secs = (shoal.hpc() - t0) / 1e9
	-- the last matches end and the pool is whole again: every cycle completed
	deadline = shoal.now() + 20000
	while shoal.now() < deadline do
		local l = shoal.call(ds, "lua", "load").fleets.bench
		if l.ready == 4 and l.allocated == 0 and l.ending == 0 then
			break
		end
		shoal.sleep(5)
	end
	secs = (shoal.hpc() - t0) / 1e9
	local l = shoal.call(ds, "lua", "load")
	if done < CYCLES then
		io.stderr:write(string.format("bench_fleet: only %d of %d allocations in 120 s\n", done, CYCLES))
	else
		out("ds_ready_ms", string.format("%.2f", l.ready_ms_p50), "ms")
		out("ds_churn_per_s", string.format("%.0f", done / secs), "/s")
	end
	io.stderr:write(string.format("bench_fleet: %d cycles in %.2f s, %d allocations found no ready DS\n", done,
		secs, misses))
	shoal.abort(0)
end)
