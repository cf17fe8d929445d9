-- bench_db: acknowledged dbmgr writes per second (bench/run db).
-- A dbmgr on SQLite (config db_*; bench/run gives a temp db_path), 4 writer
-- services (bench_db_writer), each with 256 saves in flight, 50,000 saves
-- each of a small entity; the figure is saves acknowledged (committed) per
-- second over the whole run. BENCH_DB_SYNC=normal runs synchronous=NORMAL.
-- BENCH_DB_BACKEND=postgres: the same on PostgreSQL (db_conninfo in the
-- config; bench/run starts a server in a temp dir): db_writes_per_s_pg.
local shoal = require "shoal"

local WRITERS, INFLIGHT, EACH = 4, 256, 50000

local function out(name, value, unit)
	io.write(string.format("BENCH %s %s %s\n", name, value, unit))
	io.flush()
end

shoal.start(function()
	local sync = os.getenv("BENCH_DB_SYNC") or "full"
	local backend = os.getenv("BENCH_DB_BACKEND") or "sqlite"
	assert(shoal.launch("dbmgr", "name=.dbmgr backend=" .. backend .. " sync=" .. sync))
	local writers = {}
	for w = 1, WRITERS do
		writers[w] = shoal.newservice("bench_db_writer")
	end
	shoal.fork(function()
		local done = 0
		local t0 = shoal.hpc()
		for w = 1, WRITERS do
			shoal.fork(function()
				shoal.call(writers[w], "lua", "run", (w - 1) * EACH, EACH, INFLIGHT)
				done = done + 1
			end)
		end
		while done < WRITERS do
			shoal.sleep(1)
		end
		local s = (shoal.hpc() - t0) / 1e9
		local name = sync == "full" and "db_writes_per_s_sqlite" or "db_writes_per_s_sqlite_" .. sync
		if backend == "postgres" then
			name = "db_writes_per_s_pg"
		end
		out(name, math.floor(WRITERS * EACH / s), "writes/s")
		shoal.abort(0)
	end)
end)
