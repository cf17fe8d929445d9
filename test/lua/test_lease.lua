-- test_lease: registry leases (cservice/registry_lease.c) through the Lua
-- client, shoal/lease.lua between two services, and a baseappmgr pair
-- (service/baseappmgr.lua, game/baseappmgr.lua): the standby answers no
-- picks, the client finds the active one, the standby takes over when the
-- active one dies. Every case launches its own registry with short
-- intervals.
local shoal = require "shoal"
local registry = require "shoal.registry"
local mgr = require "game.baseappmgr"
local t = require "testlib"

local E = shoal.errors
local cases = {}

local lives = {} -- the registry clients of the case (keepalive stopped at its end)

local function launch(extra)
	return shoal.launch("registry", "interval=100 suspect=2 dead=4 " .. (extra or ""))
end

-- Ends a case: no keepalive outlives its registry.
local function done(reg)
	for _, r in ipairs(lives) do
		r:silence()
	end
	lives = {}
	shoal.kill(reg)
end

-- A registered life of type "mgr" (keepalive unless told not to).
local function life(reg, id, quiet)
	local r = registry.new(reg)
	r:register { type = "mgr", id = id, node = 1, addr = "127.0.0.1", port = 1, interval = 100 }
	if not quiet then
		r:keepalive()
	end
	lives[#lives + 1] = r
	return r
end

local function holder_id(l)
	return l.holder and l.holder.id
end

-- The request's error code (it must fail).
local function code_of(reg, line)
	local ok, code, text = shoal.trycall(reg, "text", line)
	t.eq(ok, false, "refused: " .. line)
	t.ok(not text:find("\n"), "one error line: " .. text)
	return code, text
end

function cases.grant_and_refuse()
	local reg = launch()
	local a, b = life(reg, "a"), life(reg, "b")
	local l = a:lease("L")
	t.eq(l.granted, true, "free: granted")
	t.eq(l.epoch, 1, "first epoch")
	t.eq(holder_id(l), "a", "holder")
	t.eq(l.holder.inc, a.inc, "holder's inc")
	t.eq(l.holder.state, "alive", "holder's component")
	l = a:lease("L")
	t.eq(l.granted, true, "asked again: still granted")
	t.eq(l.epoch, 1, "same holder: same epoch")
	l = b:lease("L")
	t.eq(l.granted, false, "held: refused")
	t.eq(holder_id(l), "a", "the holder is named")
	t.eq(l.epoch, 1, "epoch")
	local list = b:leases("L")
	t.eq(#list, 1, "one lease")
	t.eq(holder_id(list[1]), "a", "leases shows the holder")
	t.eq(b:lease("M").epoch, 1, "another lease")
	t.eq(#b:leases(), 2, "every lease")
	t.eq(#b:leases("nosuch"), 0, "no such lease")
	done(reg)
end

function cases.end_of_life_frees()
	local reg = launch()
	local a, b = life(reg, "a"), life(reg, "b")
	t.eq(a:lease("L").epoch, 1, "a")
	a:leave()
	t.eq(holder_id(b:leases("L")[1]), nil, "leave frees it")
	local l = b:lease("L")
	t.eq(l.granted, true, "b takes it")
	t.eq(l.epoch, 2, "epoch grows")
	-- a new life of b (register again) ends the old one's lease
	b:register(b.spec)
	t.eq(holder_id(b:leases("L")[1]), nil, "register again frees it")
	t.eq(b:lease("L").epoch, 3, "the new life takes it: a new epoch")
	-- death: b stops heartbeating; the registry alone declares it dead
	local c = life(reg, "c")
	t.eq(c:lease("L").granted, false, "b holds it")
	b:silence()
	local t0 = shoal.now()
	local l2 = t.wait_until(function()
		local got = c:lease("L")
		return got.granted and got
	end, 3000, 10, "c gets the lease once b is dead")
	t.between(shoal.now() - t0, 300, 1500, "after the dead limit (4 x 100 ms), not before")
	t.eq(l2.epoch, 4, "epoch")
	local code, text = code_of(reg, string.format("lease name=L type=mgr id=b inc=%d", b.inc))
	t.eq(code, E.STALE, "a dead life may not ask: STALE")
	t.contains(text, "declared dead", "why")
	done(reg)
end

function cases.release()
	local reg = launch()
	local a, b = life(reg, "a"), life(reg, "b")
	a:lease("L")
	local l = b:release("L")
	t.eq(l.released, false, "not the holder: nothing released")
	t.eq(holder_id(l), "a", "still a")
	l = a:release("L")
	t.eq(l.released, true, "released")
	t.eq(l.holder, nil, "free")
	t.eq(l.epoch, 1, "a release keeps the epoch")
	t.eq(b:lease("L").epoch, 2, "the next grant is higher")
	done(reg)
end

function cases.events()
	local reg = launch()
	local w = registry.new(reg)
	local leases, comps = {}, {}
	local snap = w:watch({ lease = "L" }, function(e)
		leases[#leases + 1] = e
	end)
	w:watch({}, function(e)
		comps[#comps + 1] = e
	end)
	t.eq(#snap, 1, "a lease watch's list: the lease")
	t.eq(snap[1].name, "L", "name")
	t.eq(snap[1].epoch, 0, "never held: epoch 0")
	t.eq(snap[1].holder, nil, "free")
	local a = life(reg, "a")
	a:lease("L")
	a:lease("L") -- no change, no event
	a:leave()
	t.wait_until(function()
		return #leases == 2
	end, 2000, 10, "two lease events")
	t.eq(leases[1].event, "lease", "event name")
	t.eq(leases[1].seq, 1, "seq")
	t.eq(holder_id(leases[1]), "a", "granted to a")
	t.eq(leases[1].epoch, 1, "epoch 1")
	t.eq(leases[2].seq, 2, "seq")
	t.eq(leases[2].holder, nil, "freed")
	t.eq(leases[2].epoch, 1, "epoch kept")
	t.wait_until(function()
		return #comps == 2
	end, 2000, 10, "join and leave")
	for _, e in ipairs(comps) do
		t.ok(e.event ~= "lease", "a component watch gets no lease events")
	end
	w:unwatch { lease = "L" }
	local b = life(reg, "b")
	b:lease("L")
	shoal.sleep(100)
	t.eq(#leases, 2, "no events after unwatch")
	done(reg)
end

function cases.bad_input()
	local reg = launch("maxlease=1024") -- the default is 65536
	local a = life(reg, "a")
	local line = string.format("lease name=L type=mgr id=a inc=%d", a.inc)
	t.eq(code_of(reg, "lease type=mgr id=a inc=1"), E.INVAL, "missing name")
	t.eq(code_of(reg, line .. " x=1"), E.INVAL, "unknown key")
	t.eq(code_of(reg, "lease name=L type=mgr id=a inc=99"), E.STALE, "stale inc")
	t.eq(code_of(reg, "lease name=L type=mgr id=zz inc=1"), E.STALE, "unknown component")
	t.eq(code_of(reg, "lease name=L type=mgr id=a inc=x"), E.INVAL, "bad inc")
	t.eq(code_of(reg, "release name=nosuch type=mgr id=a inc=" .. a.inc), E.INVAL, "release of no lease")
	local _, text = code_of(reg, "watch lease=L type=mgr")
	t.contains(text, "does not go with", "a lease watch with a type")
	t.eq(code_of(reg, "leases name=L type=mgr"), E.INVAL, "leases takes only a name")
	t.raises("takes no type or tag", a.watch, a, { lease = "L", tag = "x" }, function() end)
	-- the bound on leases (maxlease)
	for i = 1, 1024 do
		shoal.call(reg, "text", string.format("lease name=n%d type=mgr id=a inc=%d", i, a.inc))
	end
	local code
	code, line = code_of(reg, string.format("lease name=one-more type=mgr id=a inc=%d", a.inc))
	t.eq(code, E.FULL, "too many leases")
	t.contains(line, "too many leases", "why")
	t.eq(a:lease("n7").granted, true, "the existing ones still answer")
	done(reg)
end

-- Two services hold the lease through shoal/lease.lua.
function cases.lease_library()
	local reg = launch()
	local h1 = shoal.newservice("lease_holder_svc", reg, "h1")
	local h2 = shoal.newservice("lease_holder_svc", reg, "h2")
	local s1, s2 = shoal.call(h1, "lua", "state"), shoal.call(h2, "lua", "state")
	t.eq(s1.active, true, "the first is active on return")
	t.same(s1.history, { "active:1" }, "h1's history")
	t.eq(s2.active, false, "the second is the standby")
	t.same(s2.history, { "standby:1:h1" }, "h2's history")
	shoal.call(h1, "lua", "freeze") -- its heartbeats stop: dead after 4 x 100 ms
	local t0 = shoal.now()
	t.wait_until(function()
		return shoal.call(h2, "lua", "state").active
	end, 3000, 10, "h2 takes over")
	t.between(shoal.now() - t0, 300, 1500, "within the detection bound")
	s2 = shoal.call(h2, "lua", "state")
	t.eq(s2.epoch, 2, "a new epoch")
	t.same(s2.history, { "standby:1:h1", "active:2" }, "h2's history")
	t.wait_until(function()
		return not shoal.call(h1, "lua", "state").active
	end, 2000, 10, "h1 knows it lost the lease")
	-- a new life of the holder holds nothing: it says so at once, then asks
	-- (and, the lease being free, gets it at a new epoch)
	t.same(shoal.call(h2, "lua", "reregister"), { "standby:1:h1", "active:2", "standby:2:-", "active:3" },
		"a new life: standby, then active again")
	-- a graceful hand-over: stop gives it back at once
	shoal.call(h2, "lua", "stop")
	local h3 = shoal.newservice("lease_holder_svc", reg, "h3")
	s1 = shoal.call(h3, "lua", "state")
	t.eq(s1.active, true, "h3 gets the released lease")
	t.eq(s1.epoch, 4, "epoch")
	shoal.kill(h1)
	shoal.kill(h2)
	shoal.kill(h3)
	done(reg)
end

-- Two baseappmgr services and the client of game/baseappmgr.lua.
function cases.baseappmgr_pair()
	local reg = launch()
	local apps = {}
	for i = 1, 2 do
		local r = registry.new(reg)
		r:register { type = "baseapp", id = "b" .. i, node = 1, addr = "127.0.0.1", port = 7000 + i,
			interval = 100, status = { online = 0, cpu = 0, mem = 0 } }
		r:keepalive()
		apps[i] = r
		lives[#lives + 1] = r
	end
	local m1 = shoal.newservice("baseappmgr", reg, "m1")
	local m2 = shoal.newservice("baseappmgr", reg, "m2")
	t.same(shoal.call(m1, "lua", "state"), { active = true, epoch = 1, id = "m1", holder = "m1" }, "m1 active")
	t.same(shoal.call(m2, "lua", "state"), { active = false, epoch = 1, id = "m2", holder = "m1" }, "m2 standby")
	t.wait_until(function()
		return #shoal.call(m2, "lua", "candidates") == 2
	end, 3000, 10, "the standby follows the baseapps too")
	local rec, code = shoal.call(m2, "lua", "pick", "acc")
	t.eq(rec, nil, "the standby answers no pick")
	t.eq(code, mgr.NOT_ACTIVE, "NOT_ACTIVE")
	local c = mgr.client { registry = reg, timeout = 500 }
	t.wait_until(function()
		return c:pick("acc")
	end, 3000, 10, "a pick through the client")
	rec = c:pick("acc")
	t.eq(rec.epoch, 1, "from the active one")
	t.eq(c.lease.handle, m1, "the client found m1")
	-- the client's cached handle points at the standby: one retry finds m1
	c.lease.handle = m2
	t.eq(c:pick("acc").epoch, 1, "NOT_ACTIVE: found again")
	-- m1 dies without a word (like kill -9): picks fail fast, then resume on m2
	shoal.kill(m1)
	local t0, worst, failed = shoal.now(), 0, 0
	local got = t.wait_until(function()
		local s = shoal.now()
		local r2, code2 = c:pick("acc")
		worst = math.max(worst, shoal.now() - s)
		if r2 == nil then
			t.eq(code2, mgr.NO_MANAGER, "the failure's code")
			failed = failed + 1
		end
		return r2
	end, 10000, 20, "picks resume on m2")
	local gap = shoal.now() - t0
	shoal.log(string.format("test_lease: picks resumed after %d ms (%d failed, slowest %d ms)", gap, failed, worst))
	t.eq(got.epoch, 2, "m2's epoch")
	t.eq(c.lease.handle, m2, "the client found m2")
	-- the detection bound: m1's heartbeat interval (heartbeat_ms) x 4 misses, + 1 s
	t.ok(gap <= shoal.config("heartbeat_ms") * 4 + 1000, "resumed within the bound: " .. gap .. " ms")
	t.ok(worst <= 2 * 500 + 2 * 500 + 200, "no pick waits past its timeouts: " .. worst .. " ms")
	t.same(shoal.call(m2, "lua", "state"), { active = true, epoch = 2, id = "m2", holder = "m2" }, "m2 active")
	-- m1 comes back: the standby
	local m1b = shoal.newservice("baseappmgr", reg, "m1")
	t.same(shoal.call(m1b, "lua", "state"), { active = false, epoch = 2, id = "m1", holder = "m2" }, "m1 standby")
	shoal.kill(m1b)
	shoal.kill(m2)
	done(reg)
end

t.start(cases, { "grant_and_refuse", "end_of_life_frees", "release", "events", "bad_input", "lease_library",
	"baseappmgr_pair" })
