-- e2e_db_client MODE N: a client of the dbmgr for test/e2e/test_dbmgr.py.
-- It starts the dbmgr (service/dbmgr.lua; config db_*) as .dbmgr, then:
--   write N  saves entities ("unit", 1..N) from 8 writers with 64 writes
--            in flight each; logs "e2e db acked K" as acknowledgements come
--            and "e2e db all acked N" at the end, then idles (the test kills it)
--   send N   sends N saves without waiting, then one read (it runs after
--            them), logs "e2e db sent N" and idles (the test stops the node)
--   slow N   saves ("unit", 1..N) one at a time, 5 ms apart, logging
--            "e2e db acked K" every 100 and "e2e db all acked N"
--   check N  loads ("unit", 1..N) and logs "e2e db check ok N" or
--            "e2e db check failed: ..."
local shoal = require "shoal"
local db = require "game.db"

local mode, n = table.concat({ ... }, " "):match("^(%a+)%s+(%d+)$")
n = math.tointeger(tonumber(n))

local function value(i)
	return { i = i, name = "unit" .. i, hp = i % 100 }
end

local function write_all(d)
	local acked, next_id = 0, 0
	local function writer()
		while next_id < n do
			next_id = next_id + 1
			local i = next_id
			local ok, code, text = d:save("unit", i, value(i))
			if not ok then
				shoal.error("e2e db write failed", i, code, text)
				return
			end
			acked = acked + 1
			if acked % 1000 == 0 then
				shoal.log("e2e db acked " .. acked)
			end
		end
	end
	assert(d:save("unit", 0, value(0))) -- the first save of a type asks its indexed columns
	for _ = 1, 8 * 64 do
		shoal.fork(writer)
	end
	while acked < n do
		shoal.sleep(10)
	end
	shoal.log("e2e db all acked " .. n)
end

local function write_slowly(d)
	for i = 1, n do
		local ok, code, text = d:save("unit", i, value(i))
		if not ok then
			shoal.error("e2e db write failed", i, code, text)
			return
		end
		if i % 100 == 0 then
			shoal.log("e2e db acked " .. i)
		end
		shoal.sleep(5)
	end
	shoal.log("e2e db all acked " .. n)
end

local function check(d)
	for i = 1, n do
		local v, code, text = d:load("unit", i)
		if type(v) ~= "table" or v.i ~= i or v.name ~= "unit" .. i then
			shoal.log(string.format("e2e db check failed: unit %d is %s (%s %s)", i, tostring(v), tostring(code),
				tostring(text)))
			return
		end
	end
	shoal.log("e2e db check ok " .. n)
end

shoal.start(function()
	assert(n, "usage: e2e_db_client write|send|check N")
	shoal.newservice("dbmgr") -- service/dbmgr.lua: the C dbmgr as .dbmgr
	local d = db.new(".dbmgr")
	shoal.fork(function()
		if mode == "write" then
			write_all(d)
		elseif mode == "slow" then
			write_slowly(d)
		elseif mode == "send" then
			for i = 1, n do
				shoal.send(".dbmgr", "lua", "entity_save", "unit", i, shoal.packstring(value(i)))
			end
			d:load("unit", n) -- answered once the sends before it ran
			shoal.log("e2e db sent " .. n)
		else
			check(d)
		end
	end)
end)
