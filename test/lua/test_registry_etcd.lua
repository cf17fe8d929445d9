-- test_registry_etcd: the registry's etcd backend (lualib/shoal/registry_etcd.lua)
-- on a real 3-member etcd cluster that test/e2e/test_registry_etcd.py
-- starts and controls. SHOAL_ETCD_ENDPOINTS: the members' client
-- addresses; SHOAL_ETCD_CONTROL: the port of the runner's control socket
-- ("kill leader", "kill other", "start all": see the runner; each answers
-- "ok" or "error ...").
local shoal = require "shoal"
local socket = require "shoal.socket"
local registry = require "shoal.registry"
local t = require "testlib"

local endpoints = os.getenv("SHOAL_ETCD_ENDPOINTS") or ""
local control_port = tonumber(os.getenv("SHOAL_ETCD_CONTROL") or "0")
local prefix_n = 0

-- A client on a fresh prefix per case (so the cases do not see each
-- other's keys), or on the given one.
local function new(prefix)
	if not prefix then
		prefix_n = prefix_n + 1
		prefix = string.format("/test%d-%d/", shoal.now(), prefix_n)
	end
	return registry.new { backend = "etcd", endpoints = endpoints, timeout = 500, prefix = prefix, dead = 4 }, prefix
end

local function control(cmd)
	local id = assert(socket.connect("127.0.0.1", control_port, 2000))
	socket.write(id, cmd .. "\n")
	local line, err = socket.readline(id, "\n", 30000)
	socket.close(id)
	t.eq(line, "ok", "control '" .. cmd .. "' (" .. tostring(err) .. ")")
end

local api = require "registry_api"

local function component(id, extra)
	return api.component("game", id, extra, 500)
end
local collect = api.collect
local function wait_event(events, what, id, name, ms)
	return api.wait_event(events, what, id, name, nil, ms or 5000)
end

-- Event names about id in order; "suspect" only if asked (it depends on
-- how long a life goes without a heartbeat).
local function names(events, id, suspect)
	local out = {}
	for _, e in ipairs(events) do
		if e.id == id and (suspect or e.event ~= "suspect") then
			out[#out + 1] = e.event
		end
	end
	return table.concat(out, ",")
end

local function ids(r, filter)
	local out = {}
	for _, c in ipairs(r:query(filter)) do
		out[#out + 1] = c.id
	end
	return table.concat(out, ",")
end

local cases = {}

-- Bad endpoints and bad registrations are refused with a clear error.
function cases.bad_input()
	local opts = function(eps) return { backend = "etcd", endpoints = eps } end
	t.raises("etcd: no endpoints", registry.new, opts(""))
	t.raises("etcd: bad endpoint 'nohost'", registry.new, opts("nohost"))
	t.raises("etcd: bad endpoint '127.0.0.1:0'", registry.new, opts("127.0.0.1:2379,127.0.0.1:0"))
	t.raises("etcd: bad endpoint '127.0.0.1:70000'", registry.new, opts("127.0.0.1:70000"))
	local r = new()
	t.raises("registry: register: missing addr", r.register, r, { type = "game", id = "x", node = "n", port = 1 })
	t.raises("status field 'inc' is a reserved key", r.register, r, component("x", { status = { inc = 1 } }))
	-- no member listens: unavailable, bounded
	local dead = registry.new { backend = "etcd", endpoints = "127.0.0.1:1", timeout = 200, prefix = "/x/" }
	local ms, res = t.timed(dead.query, dead, {})
	t.eq(res[1], false, "no member: fails")
	t.contains(res[2], "registry: etcd unavailable: no etcd member answered within 200 ms", "clearly")
	t.ok(ms < 2000, "bounded (" .. ms .. " ms)")
end

-- join, status, leave, dead (the lease expired), in order, seq 1, 2, ...
function cases.events_in_order()
	local w, prefix = new()
	local events, snap = collect(w, { type = "game" })
	t.eq(#snap, 0, "empty at first")
	local a, b = new(prefix), new(prefix)
	local inc = a:register(component("a"))
	t.ok(inc > 0, "an inc")
	b:register(component("b", { tags = { "us" } }))
	t.eq(ids(w, { type = "game" }), "a,b", "query in order of registration")
	t.eq(ids(w, { tag = "us" }), "b", "query by tag")
	local q = w:query { type = "game" }
	t.eq(q[1].addr, "127.0.0.1", "addr")
	t.eq(q[1].port, 7000, "port")
	t.eq(q[1].inc, inc, "inc")
	t.eq(q[1].state, "alive", "state")
	a:heartbeat { load = 5 }
	a:keepalive()
	wait_event(events, "a status", "a", "status")
	t.eq(w:query { type = "game" }[1].status.load, 5, "status merged")
	b:leave()
	wait_event(events, "b leave", "b", "leave")
	-- a keeps beating well past its TTL (2 s): alive; then silenced: dead
	shoal.sleep(2500)
	t.eq(ids(w, { type = "game" }), "a", "a kept alive by keepalive")
	a:silence()
	local t0 = shoal.now()
	-- (a leader change meanwhile renews every lease: up to a term later, as
	-- the shared cases' dead_slack_ms)
	local dead = wait_event(events, "a dead", "a", "dead", 11000)
	t.between(shoal.now() - t0, 500, 10000, "dead after the lease's TTL")
	t.eq(dead.inc, inc, "the dead life's inc")
	-- (a beat loop held up past interval x suspect on a loaded machine is
	-- a suspect and a status "alive again" more: allowed)
	local an = names(events, "a")
	t.ok(an:find("^join,status,") and (an:gsub(",status", "")) == "join,dead", "a's events: " .. names(events, "a", true))
	t.ok(names(events, "a", true):match(",suspect,dead$"), "suspect just before dead: " .. names(events, "a", true))
	t.eq(names(events, "b"), "join,leave", "b's events")
	for i, e in ipairs(events) do
		t.eq(e.seq, i, "seq " .. i)
		t.eq(e.watch, "type=game", "watch field")
	end
	-- a heartbeat of the dead life registers again: a new inc, a join
	local inc2 = a:heartbeat()
	t.ok(inc2 > inc, "a new life has a higher inc")
	t.wait_until(function() return names(events, "a"):match(",dead,join$") end, 3000, 20, "a joined again")
	a:leave()
	w:unwatch { type = "game" }
end

-- Named leases: create-if-absent bound to the holder's life; epoch from
-- the key's revision; freed when the holder's lease expires.
function cases.leases()
	local w, prefix = new()
	local a, b = new(prefix), new(prefix)
	a:register(component("a", { type = "mgr" }))
	b:register(component("b", { type = "mgr" }))
	local events, snap = collect(w, { lease = "mgr" })
	t.eq(snap[1].epoch, 0, "never held: epoch 0")
	t.eq(snap[1].holder, nil, "never held: no holder")
	local la = a:lease("mgr")
	t.eq(la.granted, true, "a gets it")
	t.ok(la.epoch > 0, "an epoch")
	t.eq(a:lease("mgr").granted, true, "asking again is cheap and safe")
	local lb = b:lease("mgr")
	t.eq(lb.granted, false, "b does not")
	t.eq(lb.holder.id, "a", "b is told the holder")
	t.eq(lb.epoch, la.epoch, "same epoch")
	t.eq(#w:leases(), 1, "one lease listed")
	b:keepalive()
	a:silence() -- a's life expires: the lease is free
	t.wait_until(function()
		for _, e in ipairs(events) do
			if e.event == "lease" and e.holder == nil then
				return true
			end
		end
	end, 11000, 20, "the lease freed by a's death")
	local lb2 = b:lease("mgr")
	t.eq(lb2.granted, true, "b takes it")
	t.ok(lb2.epoch > la.epoch, "a higher epoch")
	local rel = b:release("mgr")
	t.eq(rel.released, true, "b releases it")
	t.eq(b:lease("mgr").granted, true, "and can take it again")
	b:leave()
	w:unwatch { lease = "mgr" }
end

-- shoal/lease.lua's active/standby pair on the etcd backend: one active;
-- when it dies the standby takes over with a higher epoch.
function cases.lease_hold()
	local lease = require "shoal.lease"
	local _, prefix = new()
	local a, b = new(prefix), new(prefix)
	a:register(component("1", { type = "cellappmgr" }))
	a:keepalive()
	local state = {}
	local la = lease.hold(a, "cellappmgr", {
		active = function(epoch) state.a = epoch end,
		standby = function() state.a = nil end,
	})
	t.ok(la.active, "the first one is active")
	b:register(component("2", { type = "cellappmgr" }))
	b:keepalive()
	local lb = lease.hold(b, "cellappmgr", {
		active = function(epoch) state.b = epoch end,
		standby = function(holder) state.b_holder = holder and holder.id end,
	})
	t.eq(lb.active, false, "the second one is the standby")
	t.eq(lb.holder and lb.holder.id, "1", "it knows the holder")
	local e1 = la.epoch
	a:silence() -- the active's life expires
	t.wait_until(function() return lb.active end, 8000, 20, "the standby takes over")
	t.ok(lb.epoch > e1, "with a higher epoch")
	local l, code, text = a:trylease("lease", "cellappmgr")
	t.eq(l, nil, "the dead life gets no lease")
	t.eq(code, shoal.errors.STALE, "STALE")
	t.contains(text, "was declared dead, register again", "the text")
	lb:stop()
	la:stop()
	b:leave()
end

-- The same code paths as on the built-in registry, given an etcd client:
-- lease.serve's own life (registry.new(r.addr)) heartbeated by the node's
-- pulse service, game/object_life.lua's life and its leases, pulse's list.
function cases.serve_life_and_pulse()
	local lease = require "shoal.lease"
	local life = require "game.object_life"
	local w, prefix = new()
	local events = collect(w, {})
	local held = lease.serve("etcdmgr", { registry = w, id = "m1", interval = 500,
		active = function() end, standby = function() end })
	t.wait_until(function() return held.active end, 5000, 20, "lease.serve on etcd: active")
	local mgr = wait_event(events, "the serving life's join", "m1", "join")
	t.eq(mgr.type, "etcdmgr", "its type")
	t.eq(w:leases("etcdmgr")[1].holder.id, "m1", "it holds the lease")
	local pulse = shoal.uniqueservice("pulse")
	t.wait_until(function()
		for _, e in ipairs(shoal.call(pulse, "lua", "list")) do
			if e.type == "etcdmgr" and e.beats > 0 then
				return true
			end
		end
	end, 5000, 50, "the pulse beats for the etcd life")
	t.eq(names(events, "m1"), "join", "kept alive past its TTL (2 s) by keepalive and pulse")
	-- object_life on the same etcd, through the client's addr
	local ended
	life.start(w, function(why) ended = why end)
	t.ok(life.fresh(), "object life fresh")
	local me = life.me()
	t.eq(me.type, "objects", "object life type")
	wait_event(events, "the object life's join", me.id, "join")
	local l = life.lease("lease", "obj.etcd.1", 2000)
	t.eq(l.granted, true, "an object lease on etcd")
	t.eq(life.holder("obj.etcd.1", 2000), shoal.self(), "its holder is this service")
	life.stop()
	t.wait_until(function()
		local now = w:leases("obj.etcd.1")[1]
		return now == nil or now.holder == nil
	end, 3000, 20, "life.stop frees the object lease")
	wait_event(events, "the object life's leave", me.id, "leave")
	t.eq(ended, nil, "the life did not end by itself")
	held:stop()
	w:unwatch {}
end

-- Figures (logged, for docs/registry.md): the cost of each request on
-- a healthy 3-member cluster on this host; bounded in count.
function cases.figures()
	local w, prefix = new()
	local events = collect(w, { type = "game" })
	local r = new(prefix)
	local t0 = shoal.now()
	for i = 1, 50 do
		r:register(component("f" .. i))
	end
	local reg_ms = shoal.now() - t0
	t0 = shoal.now()
	for i = 1, 50 do
		r:heartbeat { load = i }
	end
	local hb_ms = shoal.now() - t0
	t0 = shoal.now()
	for _ = 1, 20 do
		t.eq(#r:query { type = "game" }, 1, "one life of this client listed")
	end
	local q_ms = shoal.now() - t0
	t.wait_until(function() return #events >= 100 end, 5000, 20, "100 events (50 joins, 50 status)")
	shoal.log(string.format("etcd figures: register %.1f ms, heartbeat with status %.1f ms, query %.1f ms each",
		reg_ms / 50, hb_ms / 50, q_ms / 20))
	r:leave()
	w:unwatch { type = "game" }
end

-- One member SIGKILLed: everything keeps working; two: UNAVAIL, clearly
-- and within the bound; both back: it recovers, the watch too.
function cases.member_failures()
	local w, prefix = new()
	local events = collect(w, {})
	local a = new(prefix)
	a:register(component("a"))
	a:keepalive()
	wait_event(events, "a join", "a", "join")

	control("kill leader") -- a new election meanwhile
	local b = new(prefix)
	b:register(component("b"))
	wait_event(events, "b join after one member died", "b", "join")
	t.eq(ids(w, {}), "a,b", "query with one member down")
	b:heartbeat { load = 9 }
	wait_event(events, "b status", "b", "status")
	b:leave()
	wait_event(events, "b leave", "b", "leave")

	control("kill other") -- the majority is gone
	local c = new(prefix)
	local ms, r = t.timed(c.register, c, component("c"))
	t.eq(r[1], false, "register without a majority fails")
	t.contains(r[2], "registry: etcd unavailable", "clearly")
	t.ok(ms < 2 * 3 * 500 + 1000, "within the bound (" .. ms .. " ms)")
	t.raises("registry: etcd unavailable", w.query, w, {})
	local l, code, text = a:trylease("lease", "m")
	t.eq(l, nil, "no lease without a majority")
	t.eq(code, shoal.errors.UNAVAIL, "code UNAVAIL")
	t.contains(text, "etcd unavailable", "the text")

	control("start all")
	t.wait_until(function() return pcall(c.register, c, component("c")) end, 10000, 200, "register after recovery")
	wait_event(events, "c join after recovery (the watch reconnected)", "c", "join", 10000)
	t.wait_until(function() return ids(w, {}) == "a,c" end, 5000, 100, "a (kept alive) and c listed")
	c:leave()
	wait_event(events, "c leave", "c", "leave")
	a:leave()
	w:unwatch {}
end

-- test/lua/registry_api.lua's backend-independent cases (also run on the
-- built-in registry by test_registry_api.lua): TTL 500 ms x 4 = 2 s.
local api_cases, api_names = api.cases { new = new, dead_ms = 2000, interval = 500,
	-- etcd renews every lease when its leader changes: on two loaded cores
	-- (the test members elect within 500 ms) a death may come a term later
	dead_slack_ms = 8000 }
local order = { "bad_input", "events_in_order", "leases", "lease_hold", "serve_life_and_pulse", "figures" }
for _, name in ipairs(api_names) do
	cases[name] = api_cases[name]
	order[#order + 1] = name
end
order[#order + 1] = "member_failures"
return t.start(cases, order)
