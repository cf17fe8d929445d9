-- bench_objects: distributed objects (lualib/game/object.lua) on one node
-- (bench/run objects): a registry, a dbmgr on SQLite (config db_path; the
-- run gives a temp file) and services of test/lua/object_svc.lua, each its
-- own registry life as if it were a node. Figures:
--   object_contended_incr_per_s  two services increment one object (fetch,
--                           +1, save at interval 0): acknowledged
--                           increments per second, each a fenced save
--                           (a dbmgr read and a write), some after a move
--   object_moves_per_incr   the share of those increments that came after
--                           a move (a lend: an RPC and a registry transfer)
--   object_calls_per_s      calls of a function at the owner from another
--                           service (interval 1000: no write per call)
--   object_acquire_per_s    fetches of never-seen objects (a lease grant, a
--                           dbmgr read and the claim write each)
local shoal = require "shoal"

local MOVES, CALLS, NEW = 2000, 20000, 5000

local function out(name, value, unit)
	io.write(string.format("BENCH %s %s %s\n", name, value, unit))
	io.flush()
end

local function timed(fn)
	local t0 = shoal.hpc()
	fn()
	return (shoal.hpc() - t0) / 1e9
end

local function run_all(fns)
	local done = 0
	for _, fn in ipairs(fns) do
		shoal.fork(function()
			fn()
			done = done + 1
		end)
	end
	while done < #fns do
		shoal.sleep(1)
	end
end

shoal.start(function()
	local reg = shoal.launch("registry", "interval=1000 suspect=2 dead=4")
	local dbm = assert(shoal.launch("dbmgr", "name=.dbmgr"))
	local a = shoal.newservice("object_svc", reg, dbm, 0)
	local b = shoal.newservice("object_svc", reg, dbm, 0)
	local c = shoal.newservice("object_svc", reg, dbm, 1000)
	local d = shoal.newservice("object_svc", reg, dbm, 1000)
	shoal.fork(function()
		local s = timed(function()
			run_all {
				function() shoal.call(a, "lua", "incr", 1, MOVES // 2, "fetch") end,
				function() shoal.call(b, "lua", "incr", 1, MOVES // 2, "fetch") end,
			}
		end)
		local moves = #shoal.call(a, "lua", "acquisitions") + #shoal.call(b, "lua", "acquisitions")
		out("object_contended_incr_per_s", math.floor(MOVES / s), "increments/s")
		out("object_moves_per_incr", string.format("%.2f", moves / MOVES), "moves/increment")
		shoal.call(c, "lua", "get", 2)
		s = timed(function()
			for _ = 1, CALLS do
				shoal.call(d, "lua", "call", 2, "add", 1)
			end
		end)
		out("object_calls_per_s", math.floor(CALLS / s), "calls/s")
		s = timed(function()
			for id = 1000, 1000 + NEW - 1 do
				assert(shoal.call(c, "lua", "fetch", id))
			end
		end)
		out("object_acquire_per_s", math.floor(NEW / s), "fetches/s")
		shoal.abort(0)
	end)
end)
