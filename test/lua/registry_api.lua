-- registry_api: backend-independent cases against the registry client API
-- (lualib/shoal/registry.lua and lualib/shoal/registry_etcd.lua), run once
-- on the built-in registry (test_registry_api.lua) and once on a real
-- 3-member etcd (test_registry_etcd.lua, started by
-- test/e2e/test_registry_etcd.py). The raw-protocol cases stay in
-- test_registry.lua.
--
--   local api = require "registry_api"
--   local cases, names = api.cases{new = fn, dead_ms = ms, interval = ms}
--
-- new(group): a new client; new() a client of a fresh registry (a fresh
-- key prefix on etcd), returning client, group; new(group) another client
-- of the same one. dead_ms: the bound within which a silent life is
-- declared dead; dead_slack_ms (default 1500): how much later a death may
-- be seen. interval: the components' heartbeat interval.
local shoal = require "shoal"
local t = require "testlib"

local api = {}

-- Helpers the backend-specific tests share too (test_registry_etcd.lua).

-- A component spec of `type` and `id`, heartbeating every `interval` ms;
-- `extra` overrides its fields.
function api.component(type, id, extra, interval)
	local c = { type = type, id = id, node = "n1", addr = "127.0.0.1", port = 7000, interval = interval,
		tags = { "eu" }, status = { load = 0 } }
	for k, v in pairs(extra or {}) do
		c[k] = v
	end
	return c
end

-- Watches `filter` on r: -> the list the events go into, the snapshot.
function api.collect(r, filter)
	local events = {}
	local snapshot = r:watch(filter, function(e)
		events[#events + 1] = e
	end)
	return events, snapshot
end

-- The first event `name` of component `id` (of life `inc`, if given),
-- waited for at most `ms`.
function api.wait_event(events, what, id, name, inc, ms)
	return t.wait_until(function()
		for _, e in ipairs(events) do
			if e.id == id and e.event == name and (inc == nil or e.inc == inc) then
				return e
			end
		end
	end, ms, 10, what)
end

function api.cases(opts)
	local new, dead_ms, interval = opts.new, opts.dead_ms, opts.interval
	-- how much past dead_ms a death may be seen (opts.dead_slack_ms; etcd:
	-- a leader change renews every lease, docs/registry.md)
	local slack = opts.dead_slack_ms or 1500
	local cases = {}

	local function component(type, id, extra)
		return api.component(type, id, extra, interval)
	end
	local collect = api.collect
	local function wait_event(events, what, id, name, inc, ms)
		return api.wait_event(events, what, id, name, inc, ms or dead_ms + slack + 1500)
	end

	-- Event names about id in order, without "suspect" (its timing is
	-- api_suspect's).
	local function names(events, id)
		local out = {}
		for _, e in ipairs(events) do
			if e.id == id and e.event ~= "suspect" then
				out[#out + 1] = e.event
			end
		end
		return table.concat(out, ",")
	end

	local function check_seq(events)
		for i, e in ipairs(events) do
			t.eq(e.seq, i, "seq of event " .. i .. " (no gap)")
		end
	end

	local function ids(r, filter)
		local out = {}
		for _, c in ipairs(r:query(filter)) do
			out[#out + 1] = c.id
		end
		table.sort(out)
		return table.concat(out, ",")
	end

	-- register, heartbeat with status, query by type / tag / both.
	function cases.api_register_query()
		local w, g = new()
		local a, b, c = new(g), new(g), new(g)
		local inc = a:register(component("game", "g1", { tags = { "eu", "pvp" } }))
		t.ok(math.type(inc) == "integer" and inc > 0, "an integer incarnation")
		t.eq(a.inc, inc, "the client knows it")
		b:register(component("game", "g2", { tags = { "us" } }))
		c:register(component("lobby", "l1"))
		t.eq(a:heartbeat { load = 7 }, inc, "a heartbeat keeps the life")
		t.eq(ids(w, {}), "g1,g2,l1", "everything")
		t.eq(ids(w, { type = "game" }), "g1,g2", "by type")
		t.eq(ids(w, { tag = "eu" }), "g1,l1", "by tag")
		t.eq(ids(w, { type = "game", tag = "eu" }), "g1", "by type and tag")
		local g1 = w:query { type = "game", tag = "pvp" }[1]
		t.eq(g1.status.load, 7, "the heartbeat's status")
		t.eq(g1.inc, inc, "its inc")
		t.eq(g1.addr, "127.0.0.1", "addr")
		t.eq(tonumber(g1.port), 7000, "port")
		t.eq(g1.state, "alive", "alive")
		a:leave()
		b:leave()
		c:leave()
		t.eq(ids(w, {}), "", "all left")
	end

	-- join, status, leave, then join and dead (silent), in order with seq 1, 2, ...
	function cases.api_events_in_order()
		local w, g = new()
		local events, snap = collect(w, { type = "game" })
		t.eq(#snap, 0, "nothing yet")
		local a, b = new(g), new(g)
		local inc = a:register(component("game", "a"))
		new(g):register(component("other", "x")) -- filtered out
		wait_event(events, "a join", "a", "join", inc)
		a:heartbeat { load = 5 }
		local st = wait_event(events, "a status", "a", "status", inc)
		t.eq(st.status.load, 5, "the status event carries the field")
		a:leave()
		wait_event(events, "a leave", "a", "leave", inc)
		local binc = b:register(component("game", "b"))
		local t0 = shoal.now()
		local dead = wait_event(events, "b dead", "b", "dead", binc)
		t.ok(shoal.now() - t0 <= dead_ms + slack, "b dead within the bound (" .. shoal.now() - t0 .. " ms)")
		t.eq(dead.state, "dead", "state dead")
		t.eq(names(events, "a"), "join,status,leave", "a's events in order")
		t.eq(names(events, "b"), "join,dead", "b's events in order")
		for _, e in ipairs(events) do
			t.eq(e.type, "game", "only the filter's type")
		end
		check_seq(events)
		w:unwatch { type = "game" }
	end

	-- A life declared dead registers again with its next heartbeat: a new
	-- incarnation, on_register told, the last status kept.
	function cases.api_reregister_after_dead()
		local w, g = new()
		local events = collect(w, { type = "life" })
		local r = new(g)
		local told = {}
		r:on_register(function(old, new_inc) told[#told + 1] = { old, new_inc } end)
		local inc1 = r:register(component("life", "x", { status = { load = 3 } }))
		wait_event(events, "dead", "x", "dead", inc1)
		local inc2 = r:heartbeat()
		t.ok(inc2 ~= inc1 and inc2 > inc1, "a new, higher incarnation (" .. inc1 .. " -> " .. inc2 .. ")")
		local join = wait_event(events, "join of the new life", "x", "join", inc2)
		t.eq(join.status.load, 3, "the new life has the last status")
		t.eq(#told, 1, "on_register told once")
		t.eq(told[1][1], inc1, "old inc")
		t.eq(told[1][2], inc2, "new inc")
		r:leave()
		wait_event(events, "leave", "x", "leave", inc2)
		t.eq(names(events, "x"), "join,dead,join,leave", "in order")
		check_seq(events)
		w:unwatch { type = "life" }
	end

	-- A silent life is suspect before it is dead (suspect missed intervals,
	-- then dead ones); one whose heartbeats come back while suspect is
	-- alive again: a status event of state alive.
	function cases.api_suspect()
		local w, g = new()
		local events = collect(w, { type = "quiet" })
		local a, b = new(g), new(g)
		local ainc = a:register(component("quiet", "a"))
		local binc = b:register(component("quiet", "b"))
		a:keepalive()
		b:keepalive()
		shoal.sleep(interval * 3) -- beating: neither is suspect
		for _, e in ipairs(events) do
			t.ok(e.event ~= "suspect", "no suspect while beating (" .. e.id .. ")")
		end
		a:silence()
		b:silence()
		local sb = wait_event(events, "b suspect", "b", "suspect", binc)
		t.eq(sb.state, "suspect", "state suspect")
		b:heartbeat() -- back before it is dead
		b:keepalive()
		local back = t.wait_until(function()
			for _, e in ipairs(events) do
				if e.id == "b" and e.event == "status" and e.seq > sb.seq then
					return e
				end
			end
		end, dead_ms + slack, 10, "b alive again")
		t.eq(back.state, "alive", "alive again")
		t.eq(back.inc, binc, "the same life")
		local sa = wait_event(events, "a suspect", "a", "suspect", ainc)
		local da = wait_event(events, "a dead", "a", "dead", ainc)
		t.ok(sa.seq < da.seq, "suspect before dead")
		b:leave()
		wait_event(events, "b leave", "b", "leave", binc)
		for _, e in ipairs(events) do
			t.ok(not (e.id == "b" and e.event == "dead"), "b never dead")
		end
		check_seq(events)
		w:unwatch { type = "quiet" }
	end

	-- Named leases: grant, refuse, release, end of life frees, transfer.
	function cases.api_leases()
		local w, g = new()
		local a, b, c = new(g), new(g), new(g)
		local events, snap = collect(w, { lease = "mgr" })
		t.eq(snap[1].epoch, 0, "never held: epoch 0")
		t.eq(snap[1].holder, nil, "never held: no holder")
		a:register(component("mgr", "a"))
		b:register(component("mgr", "b"))
		c:register(component("mgr", "c"))
		local la = a:lease("mgr")
		t.eq(la.granted, true, "a gets it")
		t.ok(la.epoch > 0, "an epoch")
		t.eq(la.holder.id, "a", "a holds it")
		t.eq(a:lease("mgr").granted, true, "asking again is cheap and safe")
		local lb = b:lease("mgr")
		t.eq(lb.granted, false, "b does not")
		t.eq(lb.holder.id, "a", "b is told the holder")
		t.eq(lb.epoch, la.epoch, "same epoch")
		t.eq(b:release("mgr").released, false, "b cannot release a's lease")
		t.eq(#w:leases("mgr"), 1, "listed")
		-- transfer: a hands it to b in one step
		local tr = a:transfer("mgr", { type = "mgr", id = "b", inc = b.inc })
		t.eq(tr.transferred, true, "a transfers it to b")
		t.eq(tr.holder.id, "b", "b holds it")
		t.ok(tr.epoch > la.epoch, "a higher epoch")
		local moved = wait_event(events, "the transfer's lease event", nil, "lease")
		t.ok(moved ~= nil, "a lease event")
		t.eq(w:leases("mgr")[1].holder.id, "b", "b holds it now")
		t.eq(a:transfer("mgr", { type = "mgr", id = "c", inc = c.inc }).transferred, false,
			"a no longer holds it: transferred false")
		t.raises("is not a live component", b.transfer, b, "mgr", { type = "mgr", id = "c", inc = c.inc + 1000 })
		t.raises("already is the requester", b.transfer, b, "mgr", { type = "mgr", id = "b", inc = b.inc })
		local l, code, text = b:trylease("transfer", "mgr", 2000, { type = "mgr", id = "zz", inc = 1 })
		t.eq(l, nil, "trylease transfer to nobody: nil")
		t.eq(code, shoal.errors.INVAL, "INVAL")
		t.contains(text, "is not a live component", "the text")
		t.eq(w:leases("mgr")[1].holder.id, "b", "nothing changed")
		-- release, then the end of the holder's life frees it
		local rel = b:release("mgr")
		t.eq(rel.released, true, "b releases it")
		-- a free lease: listed without a holder; its transfer is not
		-- refused, it just moves nothing; a name never granted is refused
		local free = w:leases("mgr")
		t.eq(#free, 1, "the free lease listed")
		t.eq(free[1].holder, nil, "without a holder")
		local ft = b:transfer("mgr", { type = "mgr", id = "c", inc = c.inc })
		t.eq(ft.transferred, false, "a free lease's transfer: transferred false")
		t.eq(ft.holder, nil, "still free")
		t.raises("transfer: no lease nosuch", b.transfer, b, "nosuch", { type = "mgr", id = "c", inc = c.inc })
		local lc = c:lease("mgr")
		t.eq(lc.granted, true, "c takes it")
		t.ok(lc.epoch > tr.epoch, "a higher epoch again")
		c:leave()
		t.wait_until(function()
			local now = w:leases("mgr")[1]
			return now == nil or now.holder == nil
		end, dead_ms + slack + 1500, 20, "c's leave frees the lease")
		local la2 = a:lease("mgr")
		t.eq(la2.granted, true, "a takes it back")
		t.ok(la2.epoch > lc.epoch, "higher")
		b:leave()
		a:silence() -- a's life ends without a leave: the lease is freed by its death
		t.wait_until(function()
			local now = w:leases("mgr")[1]
			return now == nil or now.holder == nil
		end, dead_ms + slack + 1500, 20, "a's death frees the lease")
		w:unwatch { lease = "mgr" }
	end

	-- Bad arguments get a clear error, nothing is half-done.
	function cases.api_bad_arguments()
		local r, g = new()
		t.raises("addr", r.register, r, { type = "game", id = "x", node = "n", port = 1 })
		t.raises("status field 'inc' is a reserved key", r.register, r, component("game", "x", { status = { inc = 1 } }))
		local fresh = new(g)
		t.raises("heartbeat before register", fresh.heartbeat, fresh)
		t.raises("lease before register", fresh.lease, fresh, "m")
		local other = new(g)
		t.eq(ids(other, {}), "", "no half registration")
	end

	return cases, { "api_bad_arguments", "api_register_query", "api_events_in_order", "api_reregister_after_dead",
		"api_suspect", "api_leases" }
end

return api
