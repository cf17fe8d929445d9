-- test_ds_alias: the dscontroller's aliases (lualib/ds/alias.lua): a fleet,
-- a canary split measured over 10,000 picks, an upgrade and a rollback by
-- pointing the alias, bad input, a restore from list() (a standby's takeover).
local t = require "testlib"
local alias = require "ds.alias"

local cases = {}

local function count(a, name, n)
	local got = {}
	for _ = 1, n do
		local f = a:pick(name)
		got[f] = (got[f] or 0) + 1
	end
	return got
end

function cases.plain()
	local a = alias.new()
	t.eq(a:set("arena", "arena-v1"), true)
	t.eq(a:pick("arena"), "arena-v1")
	t.eq(a:pick("nosuch"), nil)
	t.same(a:list(), { arena = "arena-v1" })
end

function cases.canary_split()
	local a = alias.new()
	for _, w in ipairs { 1, 5, 10, 33, 50, 90 } do
		t.eq(a:set("arena", { { "v1", 100 - w }, { "v2", w } }), true)
		local got = count(a, "arena", 10000)
		-- exact to within one pick of its share: 10,000 * w / 100
		t.between(got.v2 or 0, 100 * w - 1, 100 * w + 1, "canary " .. w .. "%")
		t.eq((got.v1 or 0) + (got.v2 or 0), 10000)
	end
	-- every window of 10 picks holds the 10 % canary once
	t.eq(a:set("arena", { { "v1", 90 }, { "v2", 10 } }), true)
	for _ = 1, 100 do
		t.eq(count(a, "arena", 10).v2, 1)
	end
	t.same(a:list(), { arena = "v1:90,v2:10" })
end

function cases.upgrade_and_rollback()
	local a = alias.new()
	a:set("arena", "v1")
	a:set("arena", { { "v1", 80 }, { "v2", 20 } }) -- canary
	t.eq(count(a, "arena", 100).v2, 20)
	a:set("arena", "v2") -- all at once
	t.eq(count(a, "arena", 100).v2, 100)
	a:set("arena", "v1") -- rollback
	t.eq(count(a, "arena", 100).v1, 100)
	a:set("arena", { { "v1", 100 }, { "v2", 0 } }) -- a weight of 0: none
	t.eq(count(a, "arena", 100).v1, 100)
	t.eq(a:remove("arena"), true)
	t.eq(a:pick("arena"), nil)
end

function cases.bad_input()
	local a = alias.new()
	local function err(...)
		local ok, e = a:set(...)
		t.eq(ok, nil)
		return e
	end
	t.contains(err("", "f"), "an alias name must be 1-64")
	t.contains(err("a b", "f"), "an alias name must be")
	t.contains(err("a", ""), "a fleet name must be")
	t.contains(err("a", {}), "a split names one or two fleets")
	t.contains(err("a", { { "x", 1 }, { "y", 1 }, { "z", 1 } }), "one or two fleets")
	t.contains(err("a", { { "x", 101 } }), "the weight of x must be an integer 0..100")
	t.contains(err("a", { { "x", 1.5 } }), "the weight of x")
	t.contains(err("a", { { "x", 0 }, { "y", 0 } }), "a weight above 0")
	t.contains(err("a", { { "x", 1 }, { "x", 1 } }), "two different fleets")
	t.contains(err("a", 42), "an alias maps to a fleet name")
	local ok, e = a:remove("nosuch")
	t.eq(ok, nil)
	t.eq(e, "no alias nosuch")
end

-- A standby that takes over restores the aliases from an agent's report
-- (list()'s form): the same targets, the same split.
function cases.restore()
	local a = alias.new()
	a:set("arena", { { "v1", 70 }, { "v2", 30 } })
	a:set("main", "v1")
	local b = alias.new()
	b:set("old", "x")
	b:restore(a:list())
	t.same(b:list(), { arena = "v1:70,v2:30", main = "v1" })
	t.eq(b:pick("old"), nil)
	local got = count(b, "arena", 1000)
	t.eq(got.v1, 700)
	t.eq(got.v2, 300)
end

t.start(cases, { "plain", "canary_split", "upgrade_and_rollback", "bad_input", "restore" })
