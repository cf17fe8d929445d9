-- test_balance_service: service/baseappmgr.lua over a real registry in
-- this node: fake baseapps register and heartbeat (registry clients in this
-- service), baseappmgr follows their join, status, leave and death events
-- and answers pick, candidates, capacity and capacity events.
local shoal = require "shoal"
local t = require "testlib"
local registry = require "shoal.registry"
local balance = require "game.balance"

local cases = {}
local reg, mgr
local apps = {} -- id -> registry client
local events = {} -- capacity events received

local function baseapp(id, port, status)
	local r = registry.new(reg)
	r:register { type = "baseapp", id = id, node = 1, addr = "127.0.0.1", port = port, interval = 100,
		status = status or { online = 0, cpu = 0, mem = 0 } }
	r:keepalive()
	apps[id] = r
	return r
end

-- The candidates as "id+" (healthy) or "id-", in id order (the order of
-- the list itself is test_balance's business; here the pending picks of
-- the earlier cases shift the online counts).
local function ids()
	local out = {}
	for i, c in ipairs(shoal.call(mgr, "lua", "candidates")) do
		out[i] = c.id .. (c.healthy and "+" or "-")
	end
	table.sort(out)
	return table.concat(out, " ")
end

local function wait_ids(want, what)
	t.wait_until(function()
		return ids() == want
	end, 5000, 10, what .. ": candidates " .. want .. " (now " .. ids() .. ")")
end

function cases.join_and_pick()
	baseapp("b1", 7001)
	baseapp("b2", 7002)
	baseapp("b3", 7003, { online = 10, cpu = 0, mem = 0 })
	wait_ids("b1+ b2+ b3+", "three joined")
	local count = {}
	for _ = 1, 30 do
		local rec = shoal.call(mgr, "lua", "pick", "acc")
		t.eq(rec.host, "127.0.0.1", "host")
		count[rec.id] = (count[rec.id] or 0) + 1
	end
	-- Score over pending picks: b3 starts 10 players behind the others.
	t.ok(count.b1 and count.b2 and count.b3 and count.b3 < count.b1, "a burst spreads (b3 gets fewer)")
end

function cases.status_changes()
	apps.b1:heartbeat { online = 4600 } -- over 90% of the default 5000
	wait_ids("b1- b2+ b3+", "b1 full")
	for _ = 1, 20 do
		t.ok(shoal.call(mgr, "lua", "pick", "acc").id ~= "b1", "a full baseapp gets nothing")
	end
	apps.b2:heartbeat { starting = 1 }
	wait_ids("b1- b2- b3+", "b2 starting")
end

function cases.over_capacity()
	t.same(shoal.call(mgr, "lua", "subscribe", shoal.self()), { live = 3, full = 1, over = false }, "subscribed")
	apps.b2:heartbeat { online = 5000, starting = 0 }
	apps.b3:heartbeat { cpu = 95 }
	t.wait_until(function()
		return #events == 1
	end, 5000, 10, "a capacity event")
	t.same(events[1], { live = 3, full = 3, over = true }, "over capacity")
	local rec, code, why = shoal.call(mgr, "lua", "pick", "acc")
	t.eq(rec, nil, "no pick")
	t.eq(code, balance.OVER_CAPACITY, "the code")
	t.contains(why, "over their high-water mark", "why")
	apps.b3:heartbeat { cpu = 10 }
	t.wait_until(function()
		return #events == 2
	end, 5000, 10, "capacity back")
	t.same(events[2], { live = 3, full = 2, over = false }, "capacity back")
	t.eq(shoal.call(mgr, "lua", "pick", "acc").id, "b3", "the one with room")
end

function cases.leave_and_dead()
	apps.b2:leave()
	wait_ids("b1- b3+", "b2 left")
	apps.b1:silence() -- its heartbeats stop: suspect, then dead after 4 intervals
	wait_ids("b3+", "b1 dead")
	apps.b3:leave()
	wait_ids("", "all gone")
	local rec, code = shoal.call(mgr, "lua", "pick", "acc")
	t.eq(rec, nil, "no pick")
	t.eq(code, balance.NO_BASEAPP, "no baseapp")
end

t.start(cases, { "join_and_pick", "status_changes", "over_capacity", "leave_and_dead" }, function()
	shoal.dispatch("lua", function(_, _, what, cap)
		if what == "capacity" then
			events[#events + 1] = cap
		end
	end)
	reg = shoal.launch("registry", "interval=100 suspect=2 dead=4")
	mgr = shoal.newservice("baseappmgr", reg)
end)
