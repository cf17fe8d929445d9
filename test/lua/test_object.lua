-- test_object: distributed objects (lualib/game/object.lua) on one node:
-- two or three services (object_svc.lua), each its own registry life,
-- stand for the nodes. Every case launches its own registry and dbmgr (a
-- fresh file). Also the registry's side: transfer, the lease table's
-- bound and its hash (docs/registry.md, docs/objects.md).
local shoal = require "shoal"
local registry = require "shoal.registry"
local t = require "testlib"

local E = shoal.errors
local cases = {}
local files = {}

-- The registry's beat is stretched under the sanitizers: no case here
-- waits for a death, and a member missing 4 beats of 100 ms on a loaded
-- TSan run would lose its leases in the middle of a case.
local SCALE = tonumber(os.getenv("SHOAL_E2E_TIME_SCALE")) or 1

local function world(n, interval)
	local reg = shoal.launch("registry", string.format("interval=%d suspect=2 dead=4", math.floor(100 * SCALE)))
	local path = os.tmpname()
	files[#files + 1] = path
	local dbm = shoal.launch("dbmgr", "path=" .. path)
	local svcs = {}
	for i = 1, n do
		svcs[i] = shoal.newservice("object_svc", reg, dbm, interval or 0)
	end
	return reg, dbm, svcs
end

local function finish(reg, dbm, svcs)
	for _, s in ipairs(svcs) do
		shoal.call(s, "lua", "stop")
	end
	shoal.kill(dbm)
	shoal.kill(reg)
	for _, f in ipairs(files) do
		os.remove(f)
		os.remove(f .. "-wal")
		os.remove(f .. "-shm")
	end
end

local function call(s, ...)
	return shoal.call(s, "lua", ...)
end

-- A call that does thousands of fetches: bounded by 30 s, stretched under
-- the sanitizers (SHOAL_E2E_TIME_SCALE), not by the call timeout.
local function long_call(s, ...)
	local r = table.pack(shoal.trycalltimeout(math.floor(30000 * SCALE), s, "lua", ...))
	assert(r[1], "call failed: " .. tostring(r[3] or r[2]))
	return table.unpack(r, 2, r.n)
end

-- No epoch given to two acquisitions, across every service.
local function one_owner_per_epoch(svcs)
	local seen, n = {}, 0
	for i, s in ipairs(svcs) do
		local last = {}
		for _, a in ipairs(call(s, "acquisitions")) do
			local key = a.id .. "@" .. a.epoch
			t.ok(seen[key] == nil, string.format("object %d epoch %d taken by %s and %d", a.id, a.epoch,
				tostring(seen[key]), i))
			t.ok(a.epoch > (last[a.id] or 0), "epochs grow on one service")
			seen[key], last[a.id], n = i, a.epoch, n + 1
		end
	end
	return n
end

function cases.fetch_save_release()
	local reg, dbm, s = world(1)
	local v, epoch = call(s[1], "get", 1)
	t.same(v, { n = 0 }, "a new object: create()")
	t.eq(epoch, 1, "the first epoch")
	local r = call(s[1], "incr", 1, 5, "fetch")
	t.same(r, { acked = 5, failed = 0, codes = {} }, "5 increments")
	t.eq(call(s[1], "release", 1), true, "released")
	v, epoch = call(s[1], "get", 1)
	t.same(v, { n = 5 }, "loaded back from the dbmgr")
	t.eq(epoch, 2, "a new grant: epoch + 1")
	t.same(call(s[1], "acquisitions"), { { id = 1, epoch = 1, how = "new" }, { id = 1, epoch = 2, how = "load" } }, "acquisitions")
	finish(reg, dbm, s)
end

function cases.lend_moves_ownership()
	local reg, dbm, s = world(2)
	t.eq(call(s[1], "incr", 7, 10, "fetch").acked, 10, "A: 10 increments")
	t.eq(call(s[1], "hold", 7), 1, "A keeps a copy")
	shoal.sleep(30) -- past object_hold_ms
	local v, epoch = call(s[2], "get", 7)
	t.same(v, { n = 10 }, "B borrowed it with A's state")
	t.eq(epoch, 2, "moved: epoch + 1")
	t.same(call(s[2], "acquisitions"), { { id = 7, epoch = 2, how = "lend" } }, "B got it by a lend")
	local ok, code = call(s[1], "stale_save", 7)
	t.eq(ok, nil, "A's old copy is not the object any more")
	t.eq(code, E.NOTOWNER, "NOTOWNER")
	t.eq(call(s[2], "incr", 7, 1, "fetch").acked, 1, "B increments")
	v = call(s[1], "get", 7)
	t.same(v, { n = 11 }, "back to A, with B's increment")
	one_owner_per_epoch(s)
	finish(reg, dbm, s)
end

local function concurrent(mode, interval)
	local reg, dbm, s = world(3, interval)
	local N = 150
	local results = t.join({
		function() return long_call(s[1], "incr", 3, N, mode) end,
		function() return long_call(s[2], "incr", 3, N, mode) end,
		function() return long_call(s[3], "incr", 3, N, mode) end,
	}, 60000)
	local acked = 0
	for i, r in ipairs(results) do
		t.ok(r[1], "service " .. i .. " answered: " .. tostring(r[2]))
		acked = acked + r[2].acked
		t.eq(r[2].failed, 0, "service " .. i .. " acknowledged every increment")
	end
	local v = call(s[1], "get", 3)
	t.eq(v.n, acked, "the counter is the number of acknowledged increments")
	t.eq(acked, 3 * N, "all of them")
	local n = one_owner_per_epoch(s)
	shoal.log(string.format("test_object: %s x3 x%d (save interval %d ms): %d acquisitions", mode, N, interval, n))
	finish(reg, dbm, s)
end

function cases.concurrent_fetch()
	concurrent("fetch", 0)
end

function cases.concurrent_call()
	concurrent("call", 0)
end

function cases.concurrent_interval()
	concurrent("fetch", 50) -- saves written by the interval's loop; a lend writes first
end

function cases.call_runs_at_the_owner()
	local reg, dbm, s = world(2)
	t.eq(call(s[1], "incr", 4, 3, "fetch").acked, 3, "A owns it")
	shoal.sleep(30)
	t.eq(call(s[2], "call", 4, "add", 10), 13, "B's call ran at A")
	t.same(call(s[2], "acquisitions"), {}, "B never took it")
	local ok, code, why = call(s[2], "call", 4, "boom")
	t.eq(ok, nil, "a function that raises")
	t.eq(code, E.RAISED, "RAISED")
	t.contains(why, "boom", "with its message")
	t.same(call(s[1], "get", 4), { n = 13 }, "the value is back to the last save")
	ok, code = call(s[2], "call", 4, "nope")
	t.eq(code, E.INVAL, "an unknown function: INVAL")
	finish(reg, dbm, s)
end

-- Two services fetch_many each other's objects in reversed orders while
-- two more fetch them one at a time. (One coroutine per service and
-- object: coroutines of one service share the object's value, and a save
-- commits every change made to it, theirs too.)
function cases.each_others_objects()
	local reg, dbm, s = world(4)
	call(s[1], "get", 10)
	call(s[2], "get", 20)
	local ms, r = t.timed(t.join, {
		function() return long_call(s[1], "incr_many", { 10, 20 }, 40) end,
		function() return long_call(s[2], "incr_many", { 20, 10 }, 40) end,
		function() return long_call(s[3], "incr", 20, 40, "fetch") end,
		function() return long_call(s[4], "incr", 10, 40, "fetch") end,
	}, 60000)
	t.ok(r[1], "no deadlock: " .. tostring(r[2]))
	local acked = 0
	for i = 1, 4 do
		t.ok(r[2][i][1], "service " .. i .. " answered")
		acked = acked + r[2][i][2].acked
	end
	for i = 3, 4 do
		t.eq(r[2][i][2].failed, 0, "every single increment acknowledged")
	end
	local n10, n20 = call(s[1], "get", 10).n, call(s[1], "get", 20).n
	t.eq(n10 + n20, acked, "every acknowledged increment is there, and no other")
	t.ok(ms < 30000, "finished within the bound: " .. ms .. " ms")
	shoal.log(string.format("test_object: each other's objects: %d ms, %d increments (%d by fetch_many)", ms, acked,
		r[2][1][2].acked + r[2][2][2].acked))
	one_owner_per_epoch(s)
	finish(reg, dbm, s)
end

function cases.owner_leaves()
	local reg, dbm, s = world(2)
	t.eq(call(s[1], "incr", 5, 20, "fetch").acked, 20, "A owns it")
	call(s[1], "stop")
	local v, epoch = call(s[2], "get", 5)
	t.same(v, { n = 20 }, "B loads the last save")
	t.eq(epoch, 2, "epoch + 1")
	t.same(call(s[2], "acquisitions"), { { id = 5, epoch = 2, how = "load" } }, "from the dbmgr")
	finish(reg, dbm, { s[2] })
end

function cases.hostile()
	local log = t.logfile()
	log.mark()
	local reg, dbm, s = world(1)
	for _, bad in ipairs { "x", -1, 1.5 } do
		local ok, code, why = call(s[1], "fetch", bad)
		t.eq(ok, nil, "bad id " .. tostring(bad))
		t.eq(code, E.INVAL, "INVAL")
		t.contains(why, "bad id", "says why")
	end
	local ok, code, why = call(s[1], "fetch_many", { 1, "y" })
	t.eq(code, E.INVAL, "fetch_many with a bad id")
	ok, code, why = call(s[1], "save_bad", 1)
	t.eq(ok, nil, "a value the serializer refuses")
	t.eq(code, E.INVAL, "INVAL")
	t.contains(why, "serializer", "says why")
	t.same(call(s[1], "get", 1), { n = 0 }, "the value is back to the last state")
	shoal.sleep(30) -- past object_hold_ms: lendable
	ok, code, why = shoal.call(s[1], "lua", "object_lend", "nosuchtype", 1, { type = "x", id = "y", inc = 1 })
	t.eq(code, E.INVAL, "lend of an unknown type")
	t.contains(why, "unknown object type", "says why")
	ok, code = shoal.call(s[1], "lua", "object_lend", "counter", 1, "me")
	t.eq(code, E.INVAL, "lend to a bad borrower")
	ok, code = shoal.call(s[1], "lua", "object_lend", "counter", 1, { type = "objects", id = "ghost", inc = 1 })
	t.eq(code, E.INVAL, "lend to a borrower that is not registered: refused by the registry")
	t.same(call(s[1], "get", 1), { n = 0 }, "and the owner keeps it")
	-- rows that are not an object's
	local d = require("game.db").new(dbm)
	assert(d:save("counter", 50, { x = 1 }))
	ok, code, why = call(s[1], "fetch", 50)
	t.eq(code, E.INVAL, "a row without an epoch")
	t.contains(why, "not an object's", "says why")
	assert(d:save("counter", 51, { epoch = 0, data = "\255garbage" }))
	ok, code, why = call(s[1], "fetch", 51)
	t.eq(code, E.INVAL, "a row whose state does not unpack")
	t.contains(why, "does not unpack", "says why")
	t.eq(call(s[1], "fetch", 52), true, "the service goes on")
	for _, line in ipairs { "object: bad id x", "object: unknown object type nosuchtype",
		"object: lend: the borrower must be a component", "the serializer refuses the value",
		"object: counter 50: the database row is not an object's", "object: counter 51: the state from the database" } do
		log.wait(line)
	end
	ok, code = shoal.call(s[1], "lua", "object_call", "counter", 99, "add", 1)
	t.eq(code, E.NOTOWNER, "a call at a node that does not own it")
	ok, code = shoal.call(s[1], "lua", "object_call", "counter", "z", "add", 1)
	t.eq(code, E.INVAL, "a call with a bad id")
	finish(reg, dbm, s)
end

-- The registry's side: transfer, and a lease table of many.
function cases.registry_transfer()
	local reg = shoal.launch("registry", "interval=100 suspect=2 dead=4 maxlease=3")
	local a, b = registry.new(reg), registry.new(reg)
	a:register { type = "objects", id = "a", node = 1, addr = "127.0.0.1", port = 1, interval = 100000 }
	b:register { type = "objects", id = "b", node = 1, addr = "127.0.0.1", port = 1, interval = 100000 }
	local to_b = { type = "objects", id = "b", inc = b.inc }
	t.eq(a:lease("L").epoch, 1, "A holds L")
	local l = b:transfer("L", { type = "objects", id = "a", inc = a.inc })
	t.eq(l.transferred, false, "only the holder moves it")
	l = a:transfer("L", to_b)
	t.eq(l.transferred, true, "moved")
	t.eq(l.epoch, 2, "epoch + 1")
	t.eq(l.holder.id, "b", "B holds it")
	t.eq(a:lease("L").granted, false, "A does not")
	local ok, code, text = shoal.trycall(reg, "text", string.format(
		"transfer name=L type=objects id=b inc=%d to_type=objects to_id=nobody to_inc=1", b.inc))
	t.eq(code, E.INVAL, "to a component that is not live")
	t.contains(text, "not a live component", "says why")
	ok, code, text = shoal.trycall(reg, "text", string.format(
		"transfer name=NOLEASE type=objects id=b inc=%d to_type=objects to_id=a to_inc=%d", b.inc, a.inc))
	t.eq(code, E.INVAL, "a lease never asked for")
	ok, code = shoal.trycall(reg, "text", string.format("transfer name=L type=objects id=b inc=%d", b.inc))
	t.eq(code, E.INVAL, "missing to_type")
	ok, code = shoal.trycall(reg, "text", string.format(
		"transfer name=L type=objects id=b inc=99 to_type=objects to_id=a to_inc=%d", a.inc))
	t.eq(code, E.STALE, "a requester of a stale life")
	ok, code = shoal.trycall(reg, "text", string.format(
		"transfer name=L type=objects id=b inc=%d to_type=objects to_id=b to_inc=%d", b.inc, b.inc))
	t.eq(code, E.INVAL, "to itself")
	t.eq(a:lease("L").holder.id, "b", "none of these changed the lease")
	a:lease("M")
	a:lease("N")
	local l4, c4, t4 = a:trylease("lease", "O", 1000)
	t.eq(c4, E.FULL, "maxlease=3: the fourth is refused")
	t.contains(t4, "limit 3", "names the limit")
	shoal.kill(reg)
	t.eq(select(2, shoal.launchservice("registry", "maxlease=0")) ~= nil, true, "maxlease=0 is refused")
	-- many: every one found again by name
	reg = shoal.launch("registry", "interval=100 suspect=2 dead=4")
	a = registry.new(reg)
	a:register { type = "objects", id = "a", node = 1, addr = "127.0.0.1", port = 1, interval = 100000 }
	local t0 = shoal.now()
	for i = 1, 5000 do
		assert(a:lease("obj.x." .. i).granted)
	end
	local ms = shoal.now() - t0
	for i = 1, 5000, 499 do
		t.eq(a:lease("obj.x." .. i).epoch, 1, "found again")
	end
	shoal.log(string.format("test_object: 5000 leases in %d ms", ms))
	a:leave() -- frees all 5000 at once
	shoal.kill(reg)
end

-- Tens of thousands of objects are cheap to take and to hand over: one
-- service takes 10,000 new ones, another borrows 1,000 of them, the first
-- stops (its 9,000 leases free at once) and the second loads 2,000 more.
-- Under the sanitizers a fifth of that (clang 14's ThreadSanitizer crashes
-- in its own trace buffer, TraceSwitchPartImpl, on the full run).
function cases.many_objects()
	local N = SCALE > 1 and 2000 or 10000
	local B, L = N // 10, N // 5
	local reg, dbm, s = world(2)
	local r = long_call(s[1], "fetch_range", 100000, N, 50)
	t.same({ r.ok, r.codes }, { N, {} }, N .. " new objects")
	shoal.log(string.format("test_object: %d new objects taken in %d ms", N, r.ms))
	local b = long_call(s[2], "fetch_range", 100000, B, 50)
	t.same({ b.ok, b.codes }, { B, {} }, B .. " borrowed")
	shoal.log(string.format("test_object: %d objects borrowed in %d ms", B, b.ms))
	call(s[1], "stop")
	local l = long_call(s[2], "fetch_range", 100000 + B, L, 50)
	t.same({ l.ok, l.codes }, { L, {} }, L .. " loaded after the first one stopped")
	shoal.log(string.format("test_object: %d objects loaded in %d ms", L, l.ms))
	local how = {}
	for _, a in ipairs(call(s[2], "acquisitions")) do
		how[a.how] = (how[a.how] or 0) + 1
	end
	t.same(how, { lend = B, load = L }, "borrowed, then loaded")
	local probe = registry.new(reg)
	t.eq(probe:leases("obj.counter." .. (100000 + N - 1))[1].holder, nil, "the stopped service's leases are free")
	t.eq(probe:leases("obj.counter." .. (100000 + B - 1))[1].epoch, 2, "a borrowed one: epoch 2")
	finish(reg, dbm, { s[2] })
end

-- With a save interval, saves are acknowledged at once and written within
-- the interval (many at once): the loss bound.
function cases.flush_interval()
	local reg, dbm, s = world(1, 200)
	local d = require("game.db").new(dbm)
	local N = 500
	t.eq(long_call(s[1], "touch_range", 7000, N), N, "500 saves acknowledged")
	local t0 = shoal.now()
	local serial = require "shoal.serial"
	local function written()
		for id = 7000, 7000 + N - 1 do
			local row = d:load("counter", id)
			if row == nil or serial.unpackstring(row.data).n ~= 1 then
				return false
			end
		end
		return true
	end
	t.wait_until(written, math.floor((200 + 5000) * SCALE), 10, "every save written by the interval's loop")
	shoal.log(string.format("test_object: %d saves at interval 200 ms written %d ms after the last", N,
		shoal.now() - t0))
	finish(reg, dbm, s)
end

t.start(cases, { "registry_transfer", "fetch_save_release", "lend_moves_ownership", "call_runs_at_the_owner",
	"hostile", "owner_leaves", "concurrent_fetch", "concurrent_call", "concurrent_interval", "each_others_objects",
	"many_objects", "flush_interval" })
