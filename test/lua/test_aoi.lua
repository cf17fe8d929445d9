-- test_aoi: the shoal.aoi binding (docs/aoi.md): every refusal with its
-- reason, flushed records decoded with string.unpack, dump/load round
-- trip, bad arguments raise a clear error.
local aoi = require "shoal.aoi"
local t = require "testlib"

local cases = {}
local R = aoi.refusals

local function new(extra)
	local o = { width = 100, height = 50, radius = 10, max_speed = 10 }
	for k, v in pairs(extra or {}) do
		o[k] = v
	end
	return aoi.new(o)
end

-- flush into {watcher = {{kind, subject, x, y}, ...}}
local function flushed(sp)
	local got = {}
	sp:flush(function(w, events, enters)
		t.eq(#events % aoi.RECORD_SIZE, 0, "record size")
		local n = 0
		for pos = 1, #events, aoi.RECORD_SIZE do
			n = n + (events:byte(pos) == aoi.ENTER and 1 or 0)
		end
		t.eq(enters, n, "the enter count")
		local list = {}
		local pos = 1
		while pos <= #events do
			local kind, subject, x, y
			kind, subject, x, y, pos = string.unpack(aoi.RECORD_FORMAT, events, pos)
			list[#list + 1] = { kind, subject, x, y }
		end
		got[w] = list
	end)
	return got
end

local function refused(why, ok, got)
	t.eq(ok, nil, "refused call result")
	t.eq(got, why, "refusal reason")
end

function cases.constants()
	t.eq(aoi.RECORD_SIZE, 17, "RECORD_SIZE")
	t.eq(#string.pack(aoi.RECORD_FORMAT, 1, 2, 3, 4), aoi.RECORD_SIZE, "RECORD_FORMAT size")
	t.eq(aoi.ENTER, 1, "ENTER")
	t.eq(aoi.LEAVE, 2, "LEAVE")
	t.eq(aoi.MOVE, 3, "MOVE")
	t.eq(R.TOO_FAST, "too fast", "refusals.TOO_FAST")
	t.eq(R.NOT_A_NUMBER, "not a number", "refusals.NOT_A_NUMBER")
end

function cases.every_refusal()
	local sp = new { max_entities = 2 }
	refused(R.BAD_ID, sp:add(0, 1, 1))
	refused(R.BAD_ID, sp:add(-5, 1, 1))
	refused(R.BAD_ID, sp:add(1.5, 1, 1))
	refused(R.BAD_ID, sp:add(1 << 53, 1, 1))
	refused(R.NOT_A_NUMBER, sp:add(1, 0 / 0, 1))
	refused(R.NOT_A_NUMBER, sp:add(1, 1, math.huge))
	refused(R.NOT_A_NUMBER, sp:add(1, -math.huge, 1))
	refused(R.OUT_OF_BOUNDS, sp:add(1, 100, 1))
	refused(R.OUT_OF_BOUNDS, sp:add(1, 1, -1))
	t.eq(sp:add(1, 0, 0), true, "add at the corner")
	t.eq(sp:add(2.0, 99.5, 49.5, false), true, "an integral float id")
	refused(R.DUPLICATE_ID, sp:add(1, 5, 5))
	refused(R.FULL, sp:add(3, 5, 5))
	-- speed: 10 units/s with 10% and SPEED_SLACK tolerance
	t.eq(sp:move(1, 11, 0, 1000), true, "move at 1.1 x max_speed")
	refused(R.TOO_FAST, sp:move(1, 22.1, 0, 1000))
	refused(R.TOO_FAST, sp:move(1, 12, 0)) -- no dt: only the slack
	refused(R.TOO_FAST, sp:move(1, 12, 0, 0))
	refused(R.TOO_FAST, sp:move(1, 12, 0, -100))
	refused(R.NOT_A_NUMBER, sp:move(1, 0 / 0, 0, 1000))
	refused(R.OUT_OF_BOUNDS, sp:move(1, 11, 50, 1e9))
	refused(R.UNKNOWN_ENTITY, sp:move(7, 1, 1, 1000))
	refused(R.BAD_ID, sp:move(0, 1, 1, 1000))
	refused(R.NOT_A_NUMBER, sp:set_position(1, 1, 0 / 0))
	refused(R.OUT_OF_BOUNDS, sp:set_position(1, 1, 50))
	refused(R.UNKNOWN_ENTITY, sp:set_position(9, 1, 1))
	-- nothing changed on a refusal
	local x, y = sp:position(1)
	t.eq(x, 11, "x after refusals")
	t.eq(y, 0, "y after refusals")
	t.eq(sp:set_position(1, 80, 40), true, "teleport far")
	t.eq(sp:remove(9), false, "remove unknown")
	t.eq(sp:position(9), nil, "position of unknown")
	refused(R.UNKNOWN_ENTITY, sp:neighbours(9))
	local st = sp:stats()
	t.eq(st.entities, 2, "stats.entities")
	t.eq(st.watchers, 1, "stats.watchers")
	t.eq(st.moves, 2, "stats.moves")
	t.eq(st.refused, 22, "stats.refused")
end

function cases.events_decoded()
	local sp = new { max_speed = 0 }
	sp:add(1, 10, 10) -- watcher
	sp:add(2, 15, 10, false) -- NPC
	sp:add(3, 50, 10) -- watcher, far
	local got = flushed(sp)
	t.same(got, { [1] = { { aoi.ENTER, 2, 15.0, 10.0 } } }, "enters at add")
	sp:move(2, 16, 11)
	sp:move(2, 17.5, 12)
	got = flushed(sp)
	t.same(got, { [1] = { { aoi.MOVE, 2, 17.5, 12.0 } } }, "moves coalesce to the last position")
	sp:move(3, 20, 10) -- 3 comes to 1 (exactly the radius away) and to 2 (3.2 away)
	got = flushed(sp)
	t.same(got[1], { { aoi.ENTER, 3, 20.0, 10.0 } }, "1 sees 3 come")
	t.same(got[3], { { aoi.ENTER, 1, 10.0, 10.0 }, { aoi.ENTER, 2, 17.5, 12.0 } }, "3 sees 1 and 2")
	t.same(sp:neighbours(2), { 1, 3 }, "neighbours sorted")
	t.same(sp:neighbours(1), { 2, 3 }, "neighbours of 1")
	t.eq(sp:remove(3), true, "remove 3")
	got = flushed(sp)
	t.same(got, { [1] = { { aoi.LEAVE, 3, 20.0, 10.0 } } }, "leave at its last position")
	t.same(flushed(sp), {}, "nothing pending")
	t.eq(sp:count(), 2, "count")
end

function cases.flush_error_keeps_the_rest()
	local sp = new { max_speed = 0 }
	sp:add(1, 10, 10)
	sp:add(2, 12, 10)
	t.raises("boom", sp.flush, sp, function()
		error("boom")
	end)
	local n = 0
	sp:flush(function()
		n = n + 1
	end)
	t.eq(n, 1, "the watcher not handed over keeps its events")
	-- a flush callback may change the space; those events wait
	sp:move(2, 13, 10)
	local calls = 0
	sp:flush(function(w)
		calls = calls + 1
		sp:move(2, 14, 10)
	end)
	t.eq(calls, 1, "one callback per watcher pending at the call")
	t.same(flushed(sp)[1], { { aoi.MOVE, 2, 14.0, 10.0 } }, "the callback's move comes next time")
end

function cases.dump_load_roundtrip()
	local opts = { width = 1000, height = 1000, radius = 30, max_speed = 20 }
	local sp = aoi.new(opts)
	local rng = 12345
	local function rnd()
		rng = (rng * 1103515245 + 12345) % 2147483648
		return rng / 2147483648
	end
	for id = 1, 500 do
		t.eq(sp:add(id, rnd() * 1000, rnd() * 1000, id % 3 ~= 0), true, "add")
	end
	sp:remove(7)
	local d = sp:dump()
	t.eq(#d, 8 + 499 * 25, "dump size")
	local sp2 = t.ok(aoi.load(opts, d), "load")
	t.eq(sp2:count(), 499, "loaded count")
	t.same(flushed(sp2), {}, "no events for a restore")
	for id = 1, 500 do
		local x1, y1 = sp:position(id)
		local x2, y2 = sp2:position(id)
		t.eq(x2, x1, "x of " .. id)
		t.eq(y2, y1, "y of " .. id)
		if x1 then
			t.same(sp2:neighbours(id), sp:neighbours(id), "neighbours of " .. id)
		end
	end
	t.eq(sp2:stats().watchers, sp:stats().watchers, "watchers")
	t.eq(sp2:dump(), d, "dump of the load")
	-- bad dumps
	local s, why = aoi.load(opts, "nonsense")
	t.eq(s, nil, "bad magic")
	t.contains(why, "not an aoi dump")
	s, why = aoi.load(opts, d:sub(1, -2))
	t.eq(s, nil, "truncated")
	t.contains(why, "truncated")
	s, why = aoi.load({ width = 10, height = 10, radius = 3 }, d)
	t.eq(s, nil, "entities outside a smaller space")
	t.contains(why, R.OUT_OF_BOUNDS)
end

function cases.move_many()
	local sp = new { max_speed = 0 }
	sp:add(1, 10, 10)
	sp:add(2, 12, 10)
	local batch = string.pack(">I8ff", 1, 11, 11) .. string.pack(">I8ff", 2, 0 / 0, 1)
		.. string.pack(">I8ff", 9, 1, 1) .. string.pack(">I8ff", 2, 13, 10)
	local ok, bad = sp:move_many(batch, 100)
	t.eq(ok, 2, "moves applied")
	t.same(bad, { 2, R.NOT_A_NUMBER, 9, R.UNKNOWN_ENTITY }, "refused list")
	local x, y = sp:position(2)
	t.eq(x, 13, "x")
	t.eq(y, 10, "y")
	t.raises("16 bytes each", sp.move_many, sp, "abc", 100)
end

function cases.bad_arguments_raise()
	t.raises("option width must be a number", aoi.new, { height = 1, radius = 1 })
	t.raises("width must be a number in", aoi.new, { width = -1, height = 1, radius = 1 })
	t.raises("radius must be", aoi.new, { width = 1, height = 1, radius = 0 })
	t.raises("max_speed must be", aoi.new, { width = 1, height = 1, radius = 1, max_speed = -1 })
	t.raises("max_entities must be", aoi.new, { width = 1, height = 1, radius = 1, max_entities = 0.5 })
	t.raises("option max_speed must be a number", aoi.new, { width = 1, height = 1, radius = 1, max_speed = "x" })
	t.raises("bad argument #1", aoi.new, "not a table")
	local sp = new()
	t.raises("number expected", sp.add, sp, "one", 1, 1)
	t.raises("number expected", sp.add, sp, 1, "x", 1)
	t.raises("number expected", sp.add, sp, "5", 1, 1) -- not even a numeric string
	t.raises("number expected", sp.move, sp, 1, "1.5", 1)
	t.raises("number expected", sp.move, sp, 1, 1, nil)
	t.raises("function expected", sp.flush, sp, 42)
	t.raises("shoal.aoi.space expected", sp.count, {})
	t.raises("shoal.aoi.space expected", aoi.new(({ width = 1, height = 1, radius = 1 })).count, 5)
end

function cases.collected()
	-- many spaces, created and dropped: __gc frees them (ASan checks the leaks)
	for i = 1, 200 do
		local sp = new()
		for id = 1, 50 do
			sp:add(id, id, 25)
		end
		sp:move(1, 2, 25, 1000)
	end
	collectgarbage()
	collectgarbage()
end

t.start(cases, {
	"constants",
	"every_refusal",
	"events_decoded",
	"flush_error_keeps_the_rest",
	"dump_load_roundtrip",
	"move_many",
	"bad_arguments_raise",
	"collected",
})
