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
--   outage N streams writes while the test stops and starts the database
--            (stream below): logs "e2e db acked K" every 500, "e2e db
--            write full" at the first FULL, "e2e db read failed NAME after
--            MS ms" for a failed read (one every 100 ms), and once the
--            file $E2E_DB_STOP exists (or N writes were sent), waits for
--            every answer and logs "e2e db stream ok acked=A full=F order=I"
--            or "e2e db stream failed: ..."
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

-- Every ms: a save of ("unit", i) and one of ("order", 1) = {i = i}, each
-- in its own fork (so many wait at once while the database is away). At
-- the end every acknowledged unit must load, and ("order", 1) must hold
-- the last acknowledged i: the writes landed in the order they were sent.
local function stream(d, max)
	local stop = assert(os.getenv("E2E_DB_STOP"), "E2E_DB_STOP")
	local acked, acked_n, full, pending, last_order = {}, 0, 0, 0, 0
	local bad = nil
	local function result(ok, code, text)
		if ok then
			return true
		end
		if code == shoal.errors.FULL then
			full = full + 1
			if full == 1 then
				shoal.log("e2e db write full")
			end
		else
			bad = bad or string.format("a write failed: %s %s", tostring(shoal.errname(code)), tostring(text))
		end
	end
	local reading = true
	shoal.fork(function()
		while reading do
			local t0 = shoal.now()
			local v, code = d:load("unit", 1)
			if v == nil and code then
				shoal.log(string.format("e2e db read failed %s after %d ms", tostring(shoal.errname(code)),
					shoal.now() - t0))
			end
			shoal.sleep(100)
		end
	end)
	local sent = 0
	local function exists(path)
		local f = io.open(path, "r")
		if f then
			f:close()
		end
		return f ~= nil
	end
	while sent < max and not exists(stop) do
		for _ = 1, 4 do
			sent = sent + 1
			local i = sent
			pending = pending + 2
			shoal.fork(function()
				if result(d:save("unit", i, value(i))) then
					acked[i] = true
					acked_n = acked_n + 1
					if acked_n % 500 == 0 then
						shoal.log("e2e db acked " .. acked_n)
					end
				end
				pending = pending - 1
			end)
			shoal.fork(function()
				if result(d:save("order", 1, { i = i })) and i > last_order then
					last_order = i
				end
				pending = pending - 1
			end)
		end
		shoal.sleep(1)
	end
	local deadline = shoal.now() + 60000
	while pending > 0 and shoal.now() < deadline do
		shoal.sleep(10)
	end
	reading = false
	if pending > 0 then
		bad = bad or pending .. " writes never answered"
	end
	for i in pairs(acked) do
		local v, code, text = d:load("unit", i)
		if type(v) ~= "table" or v.i ~= i then
			bad = bad or string.format("acknowledged unit %d is %s (%s %s)", i, tostring(v), tostring(code), tostring(text))
		end
	end
	local o = d:load("order", 1)
	if last_order > 0 and (type(o) ~= "table" or o.i ~= last_order) then
		bad = bad or string.format("order holds %s, the last acknowledged was %d", o and tostring(o.i), last_order)
	end
	if bad then
		shoal.log("e2e db stream failed: " .. bad)
	else
		shoal.log(string.format("e2e db stream ok acked=%d full=%d order=%d", acked_n, full, last_order))
	end
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
		elseif mode == "outage" then
			stream(d, n)
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
