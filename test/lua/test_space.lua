-- test_space: game.space (docs/space.md) end to end through its deliver
-- function: movement validation (the entity did not move and the refusal
-- was delivered), property scopes (owner-only never reaches a neighbour),
-- snapshot/restore (positions, properties, neighbours, full views),
-- freeze/queue/unfreeze order and the bound.
local aoi = require "shoal.aoi"
local space = require "game.space"
local t = require "testlib"

local cases = {}
local R = aoi.refusals

-- A deliver that files everything by mailbox: got[m] = {aoi = {records}, props = {...}, refused = {...}}
local function recorder()
	local got = {}
	local function deliver(m, kind, data)
		local g = got[m] or { aoi = {}, props = {}, refused = {}, calls = {} }
		got[m] = g
		g.calls[#g.calls + 1] = kind
		if kind == "aoi" then
			local pos = 1
			while pos <= #data do
				local k, s, x, y
				k, s, x, y, pos = string.unpack(aoi.RECORD_FORMAT, data, pos)
				g.aoi[#g.aoi + 1] = { k, s, x, y }
			end
		elseif kind == "props" then
			for _, p in ipairs(data) do
				g.props[#g.props + 1] = p
			end
		else
			t.eq(kind, "refused", "deliver kind")
			g.refused[#g.refused + 1] = data
		end
	end
	local function reset()
		for k in pairs(got) do
			got[k] = nil
		end
	end
	return got, deliver, reset
end

local function props_of(g, subject)
	local r = {}
	for _, p in ipairs(g and g.props or {}) do
		if p[1] == subject then
			r[p[2]] = p[3]
		end
	end
	return r
end

local function new(deliver, extra)
	local o = { id = "s1", width = 1000, height = 1000, radius = 30, max_speed = 20, deliver = deliver }
	for k, v in pairs(extra or {}) do
		o[k] = v
	end
	return space.new(o)
end

-- Lines of the node's log since mark that contain text.
local function log_count(path, start, text)
	local f = io.open(path, "r")
	if not f then
		return 0
	end
	f:seek("set", start)
	local n = 0
	for line in f:lines() do
		if line:find(text, 1, true) then
			n = n + 1
		end
	end
	f:close()
	return n
end

function cases.movement_validation()
	local path = t.ok(os.getenv("SHOAL_LOGFILE"), "SHOAL_LOGFILE is set")
	local f = io.open(path, "r")
	local start = f and f:seek("end") or 0
	if f then
		f:close()
	end
	local got, deliver, reset = recorder()
	local s = new(deliver)
	t.eq(s:enter(1, { x = 100, y = 100, dir = 0, mailbox = "m1" }), true, "enter")
	t.eq(s:enter(2, { x = 110, y = 100, mailbox = "m2" }), true, "enter 2")
	s:tick(0)
	reset()
	local bad = {
		{ 0 / 0, 100, R.NOT_A_NUMBER }, { 100, math.huge, R.NOT_A_NUMBER }, { -math.huge, 100, R.NOT_A_NUMBER },
		{ -1, 100, R.OUT_OF_BOUNDS }, { 100, 1000, R.OUT_OF_BOUNDS }, { 130, 100, R.TOO_FAST },
		{ "100", 100, R.NOT_A_NUMBER },
	}
	for i, b in ipairs(bad) do
		local ok, why = s:move(1, b[1], b[2], 0, 1000 + i) -- 1 ms apart: a step of 30 is too fast
		t.eq(ok, nil, "refused " .. i)
		t.eq(why, b[3], "reason " .. i)
	end
	t.eq(select(2, s:move(1, 100, 100, 0 / 0, 2000)), R.NOT_A_NUMBER, "NaN direction")
	t.eq(select(2, s:move(9, 1, 1, 0, 2000)), R.UNKNOWN_ENTITY, "unknown entity")
	local e = s:entity(1)
	t.eq(e.x, 100, "did not move (x)")
	t.eq(e.y, 100, "did not move (y)")
	t.eq(e.dir, 0, "did not turn")
	local refused = got.m1.refused
	t.eq(#refused, #bad + 1, "every refusal delivered")
	for i, b in ipairs(bad) do
		t.eq(refused[i].why, b[3], "delivered reason " .. i)
		t.eq(refused[i].x, 100, "delivered position x")
		t.eq(refused[i].y, 100, "delivered position y")
	end
	t.eq(got.m2, nil, "the neighbour saw nothing of it")
	s:tick(2000)
	t.eq(got.m2, nil, "nothing at the tick either")
	local st = s:stats()
	t.eq(st.refused[R.NOT_A_NUMBER], 5, "refused not a number")
	t.eq(st.refused[R.OUT_OF_BOUNDS], 2, "refused out of bounds")
	t.eq(st.refused[R.TOO_FAST], 1, "refused too fast")
	t.eq(st.refused[R.UNKNOWN_ENTITY], 1, "refused unknown")
	t.eq(st.moves, 0, "no move accepted")
	-- legal moves: 20 units/s, 500 ms after the last accepted one (none: the cap is 1 s)
	t.eq(s:move(1, 121, 100, 1.5, 2500), true, "21 units within the 1 s cap")
	t.eq(select(2, s:move(1, 135, 100, 1.5, 3000)), R.TOO_FAST, "14 units in 500 ms")
	t.eq(s:move(1, 131, 100, 1.5, 3000), true, "10 units in 500 ms")
	-- standing still banks no credit past MAX_DT_MS
	t.eq(select(2, s:move(1, 160, 100, 1.5, 60000)), R.TOO_FAST, "no banked credit")
	s:tick(60000)
	local m2 = got.m2.aoi
	t.eq(#m2, 1, "one coalesced record to the neighbour")
	t.same(m2[1], { aoi.MOVE, 1, 131.0, 100.0 }, "the last accepted position")
	t.same(props_of(got.m2, 1), { dir = 1.5 }, "the direction as a public property")
	-- logged once per entity per second: at 1001 (for the 8 refusals until
	-- 2000), 3000 and 60000
	local line = "space s1: move of entity 1 refused"
	t.wait_until(function()
		return log_count(path, start, line) >= 3
	end, 3000, 10, "three refusal lines logged")
	t.eq(log_count(path, start, line), 3, "refusals logged at most once a second")
end

function cases.property_scopes()
	local got, deliver, reset = recorder()
	local s = new(deliver)
	s:enter(1, { x = 100, y = 100, mailbox = "A", public = { name = "a" }, owner = { gold = 5 } })
	s:enter(2, { x = 110, y = 100, mailbox = "B", public = { name = "b" }, owner = { gold = 7 } })
	s:enter(3, { x = 500, y = 500, mailbox = "C" })
	s:enter(4, { x = 105, y = 105, public = { name = "wolf" } }) -- an NPC: no mailbox, not a watcher
	s:tick(0)
	-- first views: each watcher its neighbours' public state and its own state
	t.same(props_of(got.A, 2), { name = "b", dir = 0 }, "A sees B's public")
	t.same(props_of(got.A, 4), { name = "wolf", dir = 0 }, "A sees the NPC")
	t.same(props_of(got.A, 1), { name = "a", gold = 5, dir = 0 }, "A's own state")
	t.eq(props_of(got.B, 1).gold, nil, "B never sees A's gold")
	t.same(props_of(got.C, 3), { dir = 0 }, "C's own state")
	t.eq(#got.C.aoi, 0, "C sees nobody")
	reset()
	t.eq(s:set_prop(1, "gold", 6, "owner"), true, "owner prop")
	t.eq(s:set_prop(1, "hp", 90, "public"), true, "public prop")
	t.eq(s:set_prop(1, "hp", 80, "public"), true, "public prop again")
	t.eq(s:set_prop(1, "hp", 70, "public"), true, "public prop a third time")
	t.eq(s:set_prop(4, "mood", { angry = true }, "public"), true, "NPC prop")
	s:tick(100)
	t.same(props_of(got.A, 1), { gold = 6, hp = 70 }, "the owner: its gold, its hp (coalesced)")
	t.same(props_of(got.A, 4), { mood = { angry = true } }, "and the NPC's change")
	t.eq(#got.A.props, 3, "A: one gold, one hp, one mood")
	t.same(props_of(got.B, 1), { hp = 70 }, "the neighbour: public only, the last value")
	t.eq(#got.B.props, 2, "B: one hp, one mood")
	t.eq(got.C, nil, "out of range: nothing")
	reset()
	-- refusals of set_prop
	t.eq(select(2, s:set_prop(1, "x", 1, "secret")), "bad scope", "bad scope")
	t.eq(select(2, s:set_prop(1, "dir", 1, "public")), "bad key", "dir is reserved")
	t.eq(select(2, s:set_prop(1, 5, 1, "public")), "bad key", "non-string key")
	t.eq(select(2, s:set_prop(1, "f", print, "public")), "bad value", "a function")
	t.eq(select(2, s:set_prop(1, "big", string.rep("x", 70000), "public")), "value too big", "too big")
	t.eq(select(2, s:set_prop(9, "k", 1, "public")), R.UNKNOWN_ENTITY, "unknown entity")
	-- B walks into C's view: C gets the enter and B's public state, never B's gold
	for i = 1, 56 do -- 9.9 units each 500 ms (the cap: 11), to (502, 492)
		t.eq(s:move(2, 110 + i * 7, 100 + i * 7, 0.5, 100 + i * 500), true, "walk " .. i)
	end
	s:tick(30000)
	local enters = 0
	for _, r in ipairs(got.C.aoi) do
		if r[1] == aoi.ENTER and r[2] == 2 then
			enters = enters + 1
		end
	end
	t.eq(enters, 1, "C saw B come")
	t.same(props_of(got.C, 2), { name = "b", dir = 0.5 }, "with B's public state only")
	local left = false
	for _, r in ipairs(got.A.aoi) do
		left = left or (r[1] == aoi.LEAVE and r[2] == 2)
	end
	t.ok(left, "A saw B go")
end

local function build(deliver)
	local s = new(deliver, { id = "big" })
	local seed = 7
	local function rnd(n)
		seed = (seed * 1103515245 + 12345) % 2147483648
		return seed % n
	end
	for eid = 1, 300 do
		local player = eid % 4 ~= 0
		t.eq(s:enter(eid, { x = rnd(400) + 0.25, y = rnd(400) + 0.5, dir = rnd(7) / 2,
			public = { name = "e" .. eid, level = rnd(60) }, owner = player and { gold = rnd(1000), bag = { rnd(9), rnd(9) } } or nil,
			mailbox = player and ("m" .. eid) or nil }), true, "enter " .. eid)
	end
	return s
end

function cases.snapshot_restore()
	local _, deliver = recorder()
	local s = build(deliver)
	s:tick(0)
	s:leave(17)
	local snap = s:snapshot()
	t.eq(type(snap), "string", "snapshot is a string")
	local got2, deliver2 = recorder()
	local r = t.ok(space.restore({ deliver = deliver2 }, snap), "restore")
	t.same(r:entities(), s:entities(), "same entities")
	t.eq(r:count(), 299, "count")
	for _, eid in ipairs(s:entities()) do
		t.same(r:entity(eid), s:entity(eid), "entity " .. eid)
		t.same(r:neighbours(eid), s:neighbours(eid), "neighbours of " .. eid)
	end
	t.eq(next(got2), nil, "no events for the restore itself")
	r:tick(1)
	for _, eid in ipairs(s:entities()) do
		local g = got2["m" .. eid]
		if eid % 4 ~= 0 then
			local seen = {}
			for _, rec in ipairs(g.aoi) do
				t.eq(rec[1], aoi.ENTER, "only enters in a full view")
				seen[#seen + 1] = rec[2]
			end
			table.sort(seen)
			t.same(seen, s:neighbours(eid), "the full view of " .. eid)
			t.eq(props_of(g, eid).gold, s:entity(eid).owner.gold, "its own gold")
			for _, o in ipairs(seen) do
				t.eq(props_of(g, o).name, "e" .. o, "the public name of " .. o)
				t.eq(props_of(g, o).gold, nil, "never the gold of " .. o)
			end
		else
			t.eq(g, nil, "an NPC gets nothing")
		end
	end
	local shoal = require "shoal"
	t.same(shoal.unpack(r:snapshot()), shoal.unpack(snap), "the restored space snapshots the same")
	-- bad snapshots
	t.eq(space.restore({ deliver = deliver }, "garbage"), nil, "garbage")
	local ok, why = space.restore({ deliver = deliver }, shoal.packstring({ version = 99 }))
	t.eq(ok, nil, "wrong version")
	t.contains(why, "not a space snapshot")
end

function cases.set_mailbox_full_view()
	local got, deliver, reset = recorder()
	local s = new(deliver)
	s:enter(1, { x = 100, y = 100, mailbox = "old", owner = { gold = 1 } })
	s:enter(2, { x = 110, y = 100, public = { name = "npc" } })
	s:tick(0)
	reset()
	t.eq(s:set_mailbox(1, "new"), true, "set_mailbox")
	t.eq(select(2, s:set_mailbox(5, "x")), R.UNKNOWN_ENTITY, "unknown")
	s:tick(10)
	t.eq(got.old, nil, "the old mailbox gets nothing")
	t.same(got.new.aoi, { { aoi.ENTER, 2, 110.0, 100.0 } }, "the new one its whole view")
	t.same(props_of(got.new, 2), { name = "npc", dir = 0 }, "with the public state")
	t.eq(props_of(got.new, 1).gold, 1, "and its own")
end

function cases.freeze_queue_order()
	local _, deliver = recorder()
	local s = build(deliver)
	local control = build(deliver) -- the same ops applied directly
	s:freeze()
	t.ok(s:frozen(), "frozen")
	local ops = {}
	local now = 1000
	for i = 1, 600 do
		local eid = 1 + (i * 7) % 300
		if eid == 5 and i > 301 then
			eid = 6 -- 5 left
		end
		now = now + 10
		if i % 3 == 0 then
			ops[#ops + 1] = { "set_prop", eid, "seq", i, "public" }
		elseif i == 301 then
			ops[#ops + 1] = { "leave", 5 }
		elseif i == 302 then
			ops[#ops + 1] = { "enter", 5000, { x = 10, y = 10, mailbox = "late" } }
		else
			local e = control:entity(eid)
			ops[#ops + 1] = { "move", eid, math.min(e.x + 0.1, 999), e.y, i / 100, now }
		end
		local op = ops[#ops]
		local ok, note = s[op[1]](s, table.unpack(op, 2, 6))
		t.eq(ok, true, "queued " .. i)
		t.eq(note, "queued", "queued note " .. i)
		t.eq(control[op[1]](control, table.unpack(op, 2, 6)), true, "control " .. i)
	end
	t.eq(s:stats().queued, 600, "stats.queued")
	t.eq(s:entity(1).public.seq, nil, "nothing applied while frozen")
	-- a migration: snapshot while frozen, restore elsewhere, hand the queue on
	local snap = s:snapshot()
	local list = s:unfreeze()
	t.ok(not s:frozen(), "unfrozen")
	t.eq(#list, 600, "none lost or duplicated")
	for i, op in ipairs(list) do
		t.same(op, ops[i], "op " .. i .. " in arrival order")
	end
	local target = space.restore({ deliver = deliver }, snap)
	local n, failed = target:apply(list)
	t.eq(n, 600, "all applied")
	t.eq(#failed, 0, "none failed")
	t.same(target:entities(), control:entities(), "entities as applied directly")
	for _, eid in ipairs(control:entities()) do
		t.same(target:entity(eid), control:entity(eid), "entity " .. eid .. " as applied directly")
	end
	-- the bound
	local b = new(deliver, { max_queue = 5 })
	b:enter(1, { x = 1, y = 1 })
	b:freeze()
	for i = 1, 5 do
		t.eq(b:move(1, 1, 1, 0, i), true, "within the bound " .. i)
	end
	local ok, why = b:move(1, 1, 1, 0, 6)
	t.eq(ok, nil, "past the bound")
	t.eq(why, "queue full", "queue full")
	t.eq(b:stats().refused["queue full"], 1, "counted")
	t.eq(#b:unfreeze(), 5, "five queued")
	local applied, bad = b:apply({ { "move", 9, 1, 1, 0, 7 }, { "explode", 1 }, "nonsense" })
	t.eq(applied, 0, "nothing applied")
	t.same(bad, { { 1, R.UNKNOWN_ENTITY }, { 2, "bad op" }, { 3, "bad op" } }, "failures with their reasons")
end

function cases.bad_arguments()
	t.raises("opts.deliver must be a function", space.new, { width = 10, height = 10, radius = 1 })
	t.raises("aoi: radius must be", space.new, { width = 10, height = 10, radius = -1, deliver = print })
	local s = new(print)
	t.raises("spec must be a table", s.enter, s, 1, nil)
	t.raises("now_ms must be a finite number", s.move, s, 1, 1, 1, 0)
	t.eq(select(2, s:enter(1.5, { x = 1, y = 1 })), R.BAD_ID, "bad id")
	t.eq(select(2, s:enter(1, { x = 0 / 0, y = 1 })), R.NOT_A_NUMBER, "NaN")
	t.eq(select(2, s:enter(1, { x = 1, y = 1, public = { [1] = "x" } })), "bad key", "bad key")
	t.eq(select(2, s:enter(1, { x = 2000, y = 1 })), R.OUT_OF_BOUNDS, "out of bounds")
	t.eq(s:enter(1, { x = 1, y = 1 }), true, "enter")
	t.eq(select(2, s:enter(1, { x = 1, y = 1 })), R.DUPLICATE_ID, "duplicate")
	t.eq(s:leave(1), true, "leave")
	t.eq(s:leave(1), false, "leave again")
end

t.start(cases, {
	"movement_validation",
	"property_scopes",
	"snapshot_restore",
	"set_mailbox_full_view",
	"freeze_queue_order",
	"bad_arguments",
})
