-- test_cellapp: two cellapps (lualib/game/cellapp.lua) over a registry in
-- this node, driven by their commands as cellappmgr and a baseapp's cell
-- part would; this service is the entities' baseapp and agent (it gets
-- their `send` and `cell_route` messages).
-- - bad commands get a clear answer (no space, bad options, a snapshot that
--   is not one, a second create);
-- - messages of an entity are applied once and in sequence: a later one
--   waits for the missing one, a duplicate is dropped;
-- - a migration (freeze, restore, handoff) queues what arrives meanwhile,
--   hands it on, forwards late messages: WHERE counts every message once;
-- - a snapshot restored "recovered" restarts the sequence at the next enter;
-- - a gap that never closes is given up past cellapp_max_pending.
local shoal = require "shoal"
local t = require "testlib"
local proto = require "game.proto"

local cases = {}
local reg, A, B
local inbox = {} -- client bodies sent to "baseapp" send(account, body), by account
local routes = {} -- cell_route notices

local function mailbox(account)
	return { baseapp = shoal.self(), agent = shoal.self(), account = account }
end

local OPTS = { width = 100, height = 100, radius = 10, max_speed = 0 }

local function heres(account)
	local out = {}
	for _, body in ipairs(inbox[account] or {}) do
		local name, m = proto.decode(body)
		if name == "HERE" then
			out[#out + 1] = m
		end
	end
	return out
end

local function where(cellapp, space, account, seq)
	local n = #heres(account)
	shoal.send(cellapp, "lua", "op", space, 1, account, seq, "where")
	t.wait_until(function()
		return #heres(account) > n
	end, 3000, 5, "HERE for account " .. account)
	local h = heres(account)
	return h[#h]
end

function cases.bad_commands()
	local r, why = shoal.call(A, "lua", "enter", "nowhere", 1, 1, { x = 1, y = 1 }, mailbox(1), 0)
	t.eq(r, nil, "enter an unknown space")
	t.eq(why, "no space", "why")
	r, why = shoal.call(A, "lua", "create", "bad", { width = "wide", height = 10, radius = 1 }, 1)
	t.eq(r, nil, "bad options")
	t.contains(why, "bad space options", "why")
	t.eq(shoal.call(A, "lua", "create", "s1", OPTS, 1), true, "create")
	r, why = shoal.call(A, "lua", "create", "s1", OPTS, 1)
	t.eq(r, nil, "a second create")
	t.contains(why, "here already", "why")
	r, why = shoal.call(B, "lua", "restore", "s9", "not a snapshot", 1)
	t.eq(r, nil, "garbage")
	t.contains(why, "not a snapshot of space s9", "why")
	r, why = shoal.call(B, "lua", "restore", "s9", require("shoal.serial").packstring { name = "other" }, 1)
	t.eq(r, nil, "another space's")
end

function cases.sequence()
	local w = shoal.call(A, "lua", "enter", "s1", 1, 7, { x = 10, y = 10 }, mailbox(7), 0)
	t.eq(w.fresh, true, "a new entity")
	t.eq(w.width, 100, "bounds")
	shoal.send(A, "lua", "op", "s1", 1, 7, 2, "move", 12, 10, 0) -- waits for 1
	shoal.send(A, "lua", "op", "s1", 1, 7, 1, "move", 11, 10, 0)
	shoal.send(A, "lua", "op", "s1", 1, 7, 2, "move", 50, 50, 0) -- a duplicate of 2
	local h = where(A, "s1", 7, 3)
	t.eq(h.seq, 3, "seq")
	t.eq(h.applied, 3, "each once")
	t.eq(h.x, 12.0, "the moves in order, the duplicate dropped")
	local st = shoal.call(A, "lua", "stats")
	t.eq(st.dups, 1, "dups")
	t.eq(st.held, 1, "held")
	-- bad movement input is refused by the space and delivered as REFUSED
	shoal.send(A, "lua", "op", "s1", 1, 7, 4, "move", 0 / 0, 10, 0)
	shoal.send(A, "lua", "op", "s1", 1, 7, 5, "move", 500, 10, 0)
	h = where(A, "s1", 7, 6)
	t.eq(h.x, 12.0, "not moved")
	t.eq(h.applied, 6, "refused moves count as applied messages")
	local why = {}
	for _, body in ipairs(inbox[7]) do
		local name, m = proto.decode(body)
		if name == "REFUSED" then
			why[#why + 1] = m.reason
		end
	end
	t.same(why, { proto.refusals["not a number"], proto.refusals["out of bounds"] }, "the refusals")
end

function cases.migration()
	-- entity 7 is in s1 on A at seq 6
	local blob = shoal.call(A, "lua", "freeze", "s1")
	t.eq(type(blob), "string", "a snapshot")
	shoal.send(A, "lua", "op", "s1", 1, 7, 7, "move", 13, 10, 0) -- queued on A
	local r, why = shoal.call(A, "lua", "enter", "s1", 1, 8, { x = 1, y = 1 }, mailbox(8), 0)
	t.eq(why, "frozen", "no enter while frozen")
	t.eq(shoal.call(B, "lua", "restore", "s1", blob, 2), true, "restored on B")
	t.wait_until(function()
		return #routes > 0
	end, 3000, 5, "the route notice")
	t.eq(routes[#routes][3], B, "the notice names B")
	t.eq(routes[#routes][4], 2, "and the epoch")
	shoal.send(B, "lua", "op", "s1", 2, 7, 9, "move", 15, 10, 0) -- overtakes 7 and 8
	t.eq(shoal.call(A, "lua", "handoff", "s1", B, 2), 1, "one queued message handed on")
	shoal.send(A, "lua", "op", "s1", 1, 7, 8, "move", 14, 10, 0) -- late: A forwards it
	local h = where(B, "s1", 7, 10)
	t.eq(h.seq, 10, "seq")
	t.eq(h.applied, 10, "all once")
	t.eq(h.x, 15.0, "in order")
	r, why = shoal.call(A, "lua", "enter", "s1", 1, 8, { x = 1, y = 1 }, mailbox(8), 0)
	t.eq(why, "moved", "A tells where it went")
	local w = shoal.call(B, "lua", "enter", "s1", 2, 7, { x = 0, y = 0 }, mailbox(7), 10)
	t.eq(w.fresh, false, "the same agent again: its sequence goes on")
	t.eq(w.x, 15.0, "its position kept")
	t.eq(shoal.call(A, "lua", "stats").forwarded, 1, "forwarded")
end

function cases.recovered()
	local blob = shoal.call(B, "lua", "freeze", "s1")
	shoal.call(B, "lua", "unfreeze", "s1")
	t.eq(shoal.call(A, "lua", "restore", "s1", blob, 3, true), true, "restored as recovered on A")
	local w = shoal.call(A, "lua", "enter", "s1", 3, 7, { x = 0, y = 0 }, mailbox(7), 20)
	t.eq(w.fresh, true, "a recovered entity starts again")
	t.eq(w.x, 15.0, "at the snapshot's position")
	local h = where(A, "s1", 7, 21)
	t.eq(h.seq, 21, "from the given sequence")
	t.eq(h.applied, 1, "one since")
	-- the agent no longer serves 7: gone
	shoal.send(A, "lua", "gone", "s1", 7, shoal.self())
	t.wait_until(function()
		return shoal.call(A, "lua", "spaces").s1.entities == 0
	end, 3000, 5, "the orphan left")
end

function cases.gap_given_up()
	-- message 1 never comes: past cellapp_max_pending (256) held ones the gap is skipped
	shoal.call(A, "lua", "enter", "s1", 3, 9, { x = 1, y = 1 }, mailbox(9), 0)
	for seq = 2, 258 do
		shoal.send(A, "lua", "op", "s1", 3, 9, seq, "prop", "n", seq, "owner")
	end
	local h = where(A, "s1", 9, 259)
	t.eq(h.seq, 259, "seq")
	t.eq(h.applied, 258, "all but the missing one")
	t.eq(shoal.call(A, "lua", "stats").skipped, 1, "one skipped")
end

t.start(cases, { "bad_commands", "sequence", "migration", "recovered", "gap_given_up" }, function()
	shoal.dispatch("lua", function(session, source, cmd, ...)
		if cmd == "send" then
			local account, body = ...
			inbox[account] = inbox[account] or {}
			table.insert(inbox[account], body)
			if session ~= 0 then
				shoal.ret(true)
			end
		elseif cmd == "cell_route" then
			routes[#routes + 1] = { ... }
		end
	end)
	reg = shoal.launch("registry", "interval=100 suspect=2 dead=4")
	A = shoal.newservice("cellapp_under_test", reg)
	B = shoal.newservice("cellapp_under_test", reg)
end)
