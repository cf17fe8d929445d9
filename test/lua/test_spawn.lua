-- test_spawn: 10,000 services started and stopped; handles are distinct,
-- the handle table and the process memory come back afterwards.
--
-- Registered twice (see CMakeLists.txt): lua_test_spawn with the default
-- allocator settings, and lua_test_spawn_purge with jemalloc told to purge
-- freed pages at once (MALLOC_CONF) and SHOAL_SPAWN_RSS=1, which adds the
-- RSS check to the run order.
local shoal = require "shoal"
local t = require "testlib"

local N = 10000
local BATCHES = 4

-- Resident set size of this process in kB (from /proc, so it does not
-- depend on the allocator's own statistics).
local function rss_kb()
	local f = assert(io.open("/proc/self/status", "r"))
	local s = f:read("a")
	f:close()
	return tonumber(s:match("VmRSS:%s*(%d+)%s*kB"))
end

local function live_count()
	return #shoal.list()
end

local m = {} -- measurements of spawn_and_exit, checked by the later cases
local cases = {}

function cases.spawn_and_exit()
	-- the node's own services: the logger, service_mgr and this one (the
	-- bootstrap exits once this service has started)
	local initial = { shoal.localname(".logger"), shoal.localname(".service_mgr"), shoal.self() }
	table.sort(initial)
	t.wait_until(function()
		return live_count() == #initial
	end, 5000, 10, "only the node's own services alive")
	t.same(shoal.list(), initial, "live handles before")
	m.initial = initial
	m.rss_before = rss_kb()
	local t0 = shoal.now()

	local per = N // BATCHES
	local fns = {}
	for b = 1, BATCHES do
		fns[b] = function()
			local hs = {}
			for i = 1, per do
				hs[i] = shoal.newservice("trivial_svc")
			end
			return hs
		end
	end
	-- A bound, not a speed test: 60 s, stretched under the sanitizers
	-- (SHOAL_E2E_TIME_SCALE) up to just below ctest's 120 s.
	local scale = tonumber(os.getenv("SHOAL_E2E_TIME_SCALE")) or 1
	local results = t.join(fns, math.min(60000 * scale, 110000))
	local seen, handles = {}, {}
	for _, h in ipairs(initial) do
		seen[h] = true
	end
	for b = 1, BATCHES do
		t.eq(results[b][1], true, "batch " .. b .. ": " .. tostring(results[b][2]))
		for _, h in ipairs(results[b][2]) do
			t.ok(not seen[h], "handle " .. shoal.address(h) .. " returned twice or already in use")
			seen[h] = true
			handles[#handles + 1] = h
		end
	end
	t.eq(#handles, N, "services started")
	m.spawn_ms = shoal.now() - t0
	for i = 1, #handles, 97 do
		t.eq(shoal.call(handles[i], "lua", "ping"), "pong", "service " .. i)
	end
	m.listed_while_spawned = live_count()
	m.rss_spawned = rss_kb()
	m.growth = m.rss_spawned - m.rss_before
	t.ok(m.growth > 0, "RSS grew while the services lived")

	local t1 = shoal.now()
	for _, h in ipairs(handles) do
		t.eq(shoal.send(h, "lua", "exit"), true, "send exit")
	end
	t.wait_until(function()
		return live_count() == #initial
	end, 5000, 20, "back to the initial services")
	t.same(shoal.list(), initial, "live handles after")
	m.exit_ms = shoal.now() - t1
	m.rss_exit = rss_kb()
	for i = 1, #handles, 199 do
		t.raises("no such service", shoal.call, handles[i], "lua", "ping")
	end
	shoal.log(string.format("spawn: %d services in %d ms, exited in %d ms; RSS %d kB before, %d kB spawned "
		.. "(+%d kB, %.1f kB per service), %d kB after exit; shoal.list() showed %d handles with all alive",
		N, m.spawn_ms, m.exit_ms, m.rss_before, m.rss_spawned, m.growth, m.growth / N, m.rss_exit, m.listed_while_spawned))
end

function cases.list_shows_every_live_service()
	t.eq(m.listed_while_spawned, N + #m.initial, "#shoal.list() with all services alive")
end

function cases.memory_returned_after_exit()
	local limit = m.rss_before + m.growth // 2
	local trace = {}
	local ok, err = pcall(t.wait_until, function()
		local r = rss_kb()
		trace[#trace + 1] = r
		return r < limit
	end, 5000, 100, "RSS back under before + growth/2")
	shoal.log(string.format("RSS after exit (kB, every 100 ms, limit %d): %s", limit, table.concat(trace, " ")))
	t.ok(ok, err)
end

local order = {
	"spawn_and_exit",
	"list_shows_every_live_service",
	optional = { memory_returned_after_exit = true }, -- SHOAL_SPAWN_RSS=1
}
if os.getenv("SHOAL_SPAWN_RSS") == "1" then
	order[#order + 1] = "memory_returned_after_exit"
end

t.start(cases, order)
