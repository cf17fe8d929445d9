-- bench_aoi: shoal.aoi through the Lua API a cellapp uses (docs/aoi.md).
-- 10,000 watchers in one space sized so each sees about 20 others
-- (area = n * pi * r^2 / 20), each move a small random step (dt 100 ms,
-- within max_speed), the events flushed every 1,000 moves to a function
-- that counts bytes. Figures: aoi_moves_per_s (sp:move in a Lua loop),
-- aoi_move_many_per_s (the same moves 1,000 at a time through
-- sp:move_many), aoi_neighbours_avg, aoi_event_bytes_per_move, and
-- space_moves_per_s (the same world through game.space, ticks included).
local aoi = require "shoal.aoi"

local N = 10000
local RADIUS = 30
local SIDE = math.sqrt(N * math.pi * RADIUS * RADIUS / 20)
local TICK = 1000
local STEP = 1.5 -- per axis: at most 2.12 units in 100 ms, under 20 units/s x 1.1

local function world()
	local sp = aoi.new { width = SIDE, height = SIDE, radius = RADIUS, max_speed = 20 }
	local xs, ys = {}, {}
	math.randomseed(42)
	for id = 1, N do
		xs[id], ys[id] = math.random() * SIDE, math.random() * SIDE
		assert(sp:add(id, xs[id], ys[id]))
	end
	return sp, xs, ys
end

local function step(xs, ys, id)
	local x = xs[id] + (math.random() * 2 - 1) * STEP
	local y = ys[id] + (math.random() * 2 - 1) * STEP
	if x < 0 or x >= SIDE then x = xs[id] end
	if y < 0 or y >= SIDE then y = ys[id] end
	xs[id], ys[id] = x, y
	return x, y
end

return function(report, seconds)
	seconds = seconds or 2
	local sp, xs, ys = world()
	local bytes = 0
	local function count(_, events)
		bytes = bytes + #events
	end
	sp:flush(count) -- the initial enters are not part of the figure
	bytes = 0
	local total = 0
	for id = 1, N, 10 do
		total = total + #sp:neighbours(id)
	end
	report("aoi_neighbours_avg", string.format("%.1f", total / (N / 10)), "neighbours")
	local clock = os.clock
	local moves, t0 = 0, clock()
	local random = math.random
	repeat
		for _ = 1, TICK do
			local id = random(N)
			local x, y = step(xs, ys, id)
			if not sp:move(id, x, y, 100) then
				error("bench_aoi: a legal move was refused")
			end
		end
		sp:flush(count)
		moves = moves + TICK
	until clock() - t0 >= seconds
	local dt = clock() - t0
	report("aoi_moves_per_s", math.floor(moves / dt), "moves/s")
	report("aoi_event_bytes_per_move", string.format("%.1f", bytes / moves), "bytes")
	-- The same through move_many: 50 batches of steps and then the same
	-- steps undone in reverse order (so the run can repeat them); packing
	-- is outside the timing.
	local pack = string.pack
	local fwd, back = {}, {}
	for b = 1, 50 do
		local f, r = {}, {}
		for i = 1, TICK do
			local id = random(N)
			local ox, oy = xs[id], ys[id]
			local x, y = step(xs, ys, id)
			f[i] = pack(">I8ff", id, x, y)
			r[TICK + 1 - i] = pack(">I8ff", id, ox, oy)
		end
		fwd[b], back[51 - b] = table.concat(f), table.concat(r)
	end
	local batches = table.move(back, 1, 50, 51, table.move(fwd, 1, 50, 1, {}))
	moves, t0 = 0, clock()
	local refused = 0
	repeat
		for b = 1, #batches do
			local ok, bad = sp:move_many(batches[b], 100)
			moves = moves + ok
			refused = refused + #bad // 2
			sp:flush(count)
		end
	until clock() - t0 >= seconds
	report("aoi_move_many_per_s", math.floor(moves / (clock() - t0)), "moves/s")
	if refused > 0 then
		error("bench_aoi: move_many refused " .. refused .. " legal moves")
	end
	-- The same world through game.space (what a cellapp calls), as a
	-- game runs it: every entity moves once per 100 ms tick (s:move with
	-- the clock), then s:tick delivers to a function that counts; one
	-- public property change per 100 moves. The figure includes the ticks.
	local space = require "game.space"
	local delivered = 0
	local s = space.new { id = "bench", width = SIDE, height = SIDE, radius = RADIUS, max_speed = 20,
		deliver = function() delivered = delivered + 1 end }
	for id = 1, N do
		local x, y = sp:position(id)
		xs[id], ys[id] = x, y
		assert(s:enter(id, { x = x, y = y, public = { hp = 100 }, mailbox = id }))
	end
	sp = nil -- (the aoi space above is done)
	s:tick(0)
	local now = 0
	moves, t0 = 0, clock()
	repeat
		now = now + 100
		for id = 1, N do
			local x, y = step(xs, ys, id)
			if not s:move(id, x, y, 0, now) then
				error("bench_aoi: game.space refused a legal move")
			end
			if id % 100 == 0 then
				s:set_prop(id, "hp", now % 100, "public")
			end
		end
		s:tick(now)
		moves = moves + N
	until clock() - t0 >= seconds
	report("space_moves_per_s", math.floor(moves / (clock() - t0)), "moves/s")
end
