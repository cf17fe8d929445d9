-- bench_db_writer: one writer of bench_db: run(first, count, inflight)
-- saves ("bench", first+1 .. first+count) with inflight saves waiting at
-- once, and answers when every one is acknowledged.
local shoal = require "shoal"
local db = require "game.db"

local d = db.new(".dbmgr")

local function run(first, count, inflight)
	assert(d:save("bench", first, { warm = true })) -- asks the type's indexed columns once
	local next_id, done, last = first, 0, first + count
	local me = nil
	local function worker()
		while next_id < last do
			next_id = next_id + 1
			local id = next_id
			assert(d:save("bench", id, { id = id, name = "player", level = id % 60, gold = id * 3 }))
			done = done + 1
		end
		if done == count and me then
			local co = me
			me = nil
			shoal.wakeup(co)
		end
	end
	for _ = 1, inflight do
		shoal.fork(worker)
	end
	if done < count then
		me = coroutine.running()
		shoal.wait()
	end
	return true
end

shoal.start(function()
	shoal.dispatch("lua", function(_, _, cmd, ...)
		assert(cmd == "run")
		return run(...)
	end)
end)
