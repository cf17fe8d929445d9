-- test_gate_router: protocol routing (lualib/shoal/router.lua and the
-- router service): hash(uid) over instances, space ownership, a custom rule
-- module, ctx updates, errors, and a dead instance.
local shoal = require "shoal"
local router = require "shoal.router"
local t = require "testlib"

local hash_logic = {} -- the 4 "hash" instances, by index

local function index_of(reply)
	return math.tointeger(tonumber(reply:match("^i=(%d+)")))
end

local cases = {}

function cases.encode_decode()
	local frame = router.encode(513, "body")
	t.eq(frame, "\2\1body", "encoded")
	local id, body = router.decode(frame)
	t.eq(id, 513, "id")
	t.eq(body, "body", "body")
	t.eq(select(2, router.decode("\0\7")), "", "empty body")
	local none, err = router.decode("x")
	t.eq(none, nil, "short frame")
	t.contains(err, "shorter than a protocol id", "error")
end

function cases.hash_spreads_and_sticks()
	t.eq(#router.instances(10), 4, "instances of protocol 10")
	local count = {}
	for k = 1, 200 do
		local uid = "user" .. k
		local ctx = {}
		local ok, reply = router.route(uid, 10, "hi", ctx)
		t.ok(ok, reply)
		local i = index_of(reply)
		t.eq(i, router.hash(uid, 4), uid .. " reached the instance the rule names")
		t.contains(reply, "uid=" .. uid, "the logic sees the uid")
		count[i] = (count[i] or 0) + 1
		for _ = 1, 3 do
			local _, again = router.route(uid, 11, "again", ctx)
			t.eq(index_of(again), i, uid .. " sticks to one instance")
		end
	end
	for i = 1, 4 do
		t.between(count[i] or 0, 20, 100, "uids at instance " .. i)
	end
	-- integer uids hash by their text
	t.eq(router.hash(42, 4), router.hash("42", 4), "42 and \"42\"")
end

function cases.jump_hash_is_consistent()
	local moved = 0
	for k = 1, 2000 do
		local a, b = router.hash(k, 4), router.hash(k, 5)
		if a ~= b then
			t.eq(b, 5, "a key that moves goes to the new instance")
			moved = moved + 1
		end
	end
	t.between(moved, 250, 550, "keys moved from 4 to 5 instances (about 1/5)")
	for k = 1, 100 do
		t.eq(router.hash(k, 1), 1, "one instance")
	end
end

function cases.ctx_updates_and_errors()
	local ctx = { gate = 1, conn = 2 }
	local ok, reply = router.route("u", 13, "", ctx)
	t.ok(ok and reply == "levelled", "first update")
	router.route("u", 13, "", ctx)
	t.eq(ctx.level, 2, "ctx updated twice")
	local bad, err = router.route("u", 12, "", ctx)
	t.eq(bad, false, "a failing handler")
	t.contains(err, "logic failure on purpose", "its error")
	local none, why = router.route("u", 99, "", {})
	t.eq(none, false, "unknown protocol")
	t.contains(why, "no service handles protocol 99", "error")
	local nouid, why2 = router.route(nil, 10, "", {})
	t.eq(nouid, false, "hash route without a uid")
	t.contains(why2, "needs a uid", "error")
end

function cases.space_route()
	local a = shoal.newservice("test_gate_logic", 1, "space", { 20 }, { 1, 2 })
	local b = shoal.newservice("test_gate_logic", 2, "space", { 20 }, { 3 })
	local ok, reply = router.route("p", 20, "move", { space = 3 })
	t.ok(ok, reply)
	t.eq(index_of(reply), 2, "space 3 belongs to b")
	t.contains(reply, "space=3", "the logic sees the space")
	t.eq(index_of(select(2, router.route("p", 20, "move", { space = 1 }))), 1, "space 1")
	t.eq(index_of(select(2, router.route("q", 20, "move", { space = 2 }))), 1, "space 2")
	local none, err = router.route("p", 20, "move", { space = 9 })
	t.eq(none, false, "an unowned space")
	t.contains(err, "no instance", "error")
	local nospace, err2 = router.route("p", 20, "move", {})
	t.eq(nospace, false, "no space in ctx")
	t.contains(err2, "needs ctx.space", "error")
	-- a second owner for a space is refused
	t.raises("already belongs to", shoal.newservice, "test_gate_logic", 3, "space", { 20 }, { 3 })
	shoal.kill(a)
	shoal.kill(b)
end

function cases.custom_rule_module()
	shoal.newservice("test_gate_logic", 1, "test_gate_rule", { 30 })
	shoal.newservice("test_gate_logic", 2, "test_gate_rule", { 30 })
	t.eq(index_of(select(2, router.route("x", 30, "apple", {}))), 1, "'a' goes first")
	t.eq(index_of(select(2, router.route("x", 30, "banana", {}))), 2, "the rest go last")
end

function cases.route_conflicts_refused()
	t.raises("is routed by \"hash\", not \"space\"", shoal.newservice, "test_gate_logic", 9, "space", { 10 }, { 5 })
	t.raises("protocol id must be an integer", shoal.newservice, "test_gate_logic", 9, "hash", { "x" })
	-- the logic's own commands still work next to routing
	t.eq(shoal.call(hash_logic[1], "lua", "whoami"), 1, "own dispatch")
	t.eq(shoal.call(hash_logic[2], "lua", "ping"), "pong 2", "opts.command")
end

function cases.dead_instance_dropped()
	-- find a uid on instance 3, kill instance 3, route again
	local uid
	for k = 1, 100 do
		if router.hash("dead" .. k, 4) == 3 then
			uid = "dead" .. k
			break
		end
	end
	shoal.kill(hash_logic[3])
	local ok, reply = router.route(uid, 10, "still there?", {})
	t.ok(ok, reply)
	t.ok(index_of(reply) ~= 3, "routed to a live instance")
	t.eq(#router.instances(10), 3, "the dead one is gone from the table")
end

t.start(cases, {
	"encode_decode",
	"hash_spreads_and_sticks",
	"jump_hash_is_consistent",
	"ctx_updates_and_errors",
	"space_route",
	"custom_rule_module",
	"route_conflicts_refused",
	"dead_instance_dropped",
}, function()
	for i = 1, 4 do
		hash_logic[i] = shoal.newservice("test_gate_logic", i, "hash", { 10, 11, 12, 13 })
	end
end)
