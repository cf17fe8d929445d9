-- test_cellappmgr: service/cellappmgr.lua over a registry in this node
-- and two cellapps (cellapp_under_test): placement on the least-loaded
-- cellapp, unknown spaces, a live migration (epoch + 1), and a dead
-- cellapp (its service killed: the registry declares it dead) whose space
-- comes back on the other from the peer copy, with its entity; a new
-- manager rebuilds the map from the cellapps (a stale claim is dropped).
-- SHOAL_WORLD_SPACES=world,dungeon (test/lua/CMakeLists.txt).
local shoal = require "shoal"
local t = require "testlib"
local mgr = require "game.cellappmgr"

local cases = {}
local reg, A, B, M
local ids = {}

local function call(...)
	return shoal.call(M, "lua", ...)
end

local function where(space)
	local r = assert(call("spaces"))[space]
	return r and r.handle, r and r.epoch
end

function cases.placement()
	t.wait_until(function()
		local st = call("state")
		return st.active
	end, 5000, 10, "the cellappmgr active")
	t.wait_until(function()
		return shoal.call(A, "lua", "id") and shoal.call(B, "lua", "id") and true
	end, 5000, 10, "cellapps up")
	local r1 = call("locate", "world")
	t.eq(r1.space, "world", "placed")
	t.eq(r1.epoch, 1, "epoch 1")
	local r2 = call("locate", "dungeon")
	t.ok(r2.handle ~= r1.handle, "the second space goes to the other (less loaded) cellapp")
	local again = call("locate", "world")
	t.eq(again.handle, r1.handle, "the same answer again")
	t.eq(shoal.call(r1.handle, "lua", "spaces").world.epoch, 1, "the cellapp holds it")
end

function cases.unknown()
	local r, code, why = call("locate", "nowhere")
	t.eq(r, nil, "not a configured space")
	t.eq(code, mgr.UNKNOWN_SPACE, "code")
	t.contains(why, "no space nowhere", "why")
	r, code = call("locate", 42)
	t.eq(code, mgr.UNKNOWN_SPACE, "not a string")
	r, code = call("migrate", "nowhere")
	t.eq(code, mgr.UNKNOWN_SPACE, "migrate an unknown space")
	r, code = call("migrate", "world", "no-such-cellapp")
	t.eq(code, mgr.NO_CELLAPP, "migrate to an unknown cellapp")
end

function cases.migration()
	local from, epoch = where("world")
	local r = call("migrate", "world")
	t.eq(r.epoch, epoch + 1, "epoch + 1")
	local to = where("world")
	t.ok(to ~= from, "moved")
	t.eq(shoal.call(to, "lua", "spaces").world.epoch, epoch + 1, "the target holds it")
	t.eq(shoal.call(from, "lua", "spaces").world, nil, "the source does not")
	local _, why = shoal.call(from, "lua", "enter", "world", epoch, 5, { x = 1, y = 1 }, nil, 0)
	t.eq(why, "moved", "the source says it moved")
end

function cases.dead_cellapp()
	local holder, epoch = where("world")
	local other = holder == A and B or A
	t.ok(shoal.call(holder, "lua", "enter", "world", epoch, 77, { x = 10, y = 20 }, nil, 0), "an entity")
	shoal.call(holder, "lua", "snapshot", "world") -- its copy goes to the peer
	t.wait_until(function()
		return shoal.call(other, "lua", "backup_info", "world") ~= nil
	end, 3000, 10, "the peer copy")
	local held = 0
	for _ in pairs(shoal.call(holder, "lua", "spaces")) do
		held = held + 1
	end
	shoal.kill(holder) -- no more heartbeats: dead after 4 intervals
	t.wait_until(function()
		local h = where("world")
		return h == other
	end, 5000, 20, "world recovered on the other cellapp")
	local _, e2 = where("world")
	t.ok(e2 > epoch, "a later epoch")
	local sp = shoal.call(other, "lua", "spaces")
	t.eq(sp.world.entities, 1, "with its entity")
	local f = call("failover")
	t.eq(f.counts.cellapp_dead, 1, "one cellapp_dead")
	t.eq(f.counts.space_recovered, held, "each of its spaces recovered")
	local line
	for _, l in ipairs(f.recent) do
		if l:find("event=space_recovered space=world ", 1, true) then
			line = l
		end
	end
	t.contains(line, "source=peer", "world from the peer copy")
end

function cases.new_manager_rebuilds()
	local holder, epoch = where("world")
	-- a third cellapp claims world at an older epoch (a stale copy)
	local C = shoal.newservice("cellapp_under_test", reg)
	t.eq(shoal.call(C, "lua", "create", "world", { width = 10, height = 10, radius = 1 }, 1), true, "a stale claim")
	shoal.kill(M) -- the lease is freed when the registry declares it dead
	M = shoal.newservice("cellappmgr", reg, "m2")
	t.wait_until(function()
		return call("state").active
	end, 15000, 20, "the new cellappmgr active")
	local h, e = where("world")
	t.eq(h, holder, "the higher epoch wins")
	t.eq(e, epoch, "its epoch")
	t.wait_until(function()
		return shoal.call(C, "lua", "spaces").world == nil
	end, 3000, 10, "the stale claim dropped")
	t.ok(where("dungeon"), "dungeon known too")
end

t.start(cases, { "placement", "unknown", "migration", "dead_cellapp", "new_manager_rebuilds" }, function()
	reg = shoal.launch("registry", "interval=100 suspect=2 dead=4")
	A = shoal.newservice("cellapp_under_test", reg)
	B = shoal.newservice("cellapp_under_test", reg)
	M = shoal.newservice("cellappmgr", reg)
end)
