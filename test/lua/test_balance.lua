-- test_balance: baseappmgr's choice of a baseapp (lualib/game/balance.lua):
-- the five strategies, the high-water rule, the candidate list, the registry
-- adapter, bad input, and the consistent hash's movement bound measured over
-- 100,000 accounts.
local shoal = require "shoal"
local t = require "testlib"
local balance = require "game.balance"

local cases = {}

-- The options from the schema's defaults, with overrides.
local function options(over)
	local opts = balance.config(shoal.config)
	for k, v in pairs(over or {}) do
		opts[k] = v
	end
	return opts
end

-- A record with sensible fields; over replaces some.
local function rec(id, over)
	local r = { id = id, node = 1, host = "127.0.0.1", port = 7000, state = "alive", online = 0, cpu = 0, mem = 0,
		starting = false, max_online = 100 }
	for k, v in pairs(over or {}) do
		r[k] = v
	end
	return r
end

-- A repeatable source of floats in [0, 1) (xorshift32).
local function seeded(seed)
	local x = seed
	return function()
		x = x ~ ((x << 13) & 0xffffffff)
		x = x ~ (x >> 17)
		x = x ~ ((x << 5) & 0xffffffff)
		return x / 4294967296
	end
end

function cases.defaults_from_schema()
	local opts = balance.config(shoal.config)
	t.eq(opts.strategy, "score", "default strategy")
	t.eq(opts.vnodes, 160, "vnodes")
	t.eq(opts.high_water, 90, "high water")
	t.same(opts.weights, {}, "no weights")
	t.eq(balance.new(opts).opts, opts, "a balancer over the defaults")
	t.raises("unknown strategy 'fastest'", balance.new, options { strategy = "fastest" })
	local no_vnodes = options()
	no_vnodes.vnodes = nil
	t.raises("option 'vnodes' is nil", balance.new, no_vnodes)
	local cfg = function(k)
		return k == "baseappmgr_weights" and "b1=3, b2 = 0.5" or shoal.config(k)
	end
	t.same(balance.config(cfg).weights, { b1 = 3, b2 = 0.5 }, "weights parsed")
	cfg = function(k)
		return k == "baseappmgr_weights" and "b1=3,b2" or shoal.config(k)
	end
	t.raises("'b2' is not id=weight", balance.config, cfg)
end

function cases.round_robin()
	local opts = options()
	local list = { rec("b2"), rec("b3"), rec("b1") }
	local b = balance.new(options { strategy = "round_robin" })
	local got = {}
	for i = 1, 7 do
		got[i] = b:pick(list).id
	end
	t.same(got, { "b1", "b2", "b3", "b1", "b2", "b3", "b1" }, "in id order, wrapping")
	-- The turn survives a leave and a join: after b1 comes b3 when b2 left,
	-- then the newcomer b4, then b1.
	list = { rec("b3"), rec("b1"), rec("b4") }
	t.same({ b:pick(list).id, b:pick(list).id, b:pick(list).id }, { "b3", "b4", "b1" }, "after leave/join")
	-- A full baseapp and a suspect one are skipped.
	list = { rec("b1"), rec("b2", { online = 95 }), rec("b3", { state = "suspect" }), rec("b4") }
	t.eq(balance.round_robin(list, opts, "b1").id, "b4", "full and suspect skipped")
	t.eq(balance.round_robin(list, opts, "b4").id, "b1", "wraps")
	t.eq(balance.round_robin(list, opts, nil).id, "b1", "no turn yet: the first id")
end

function cases.least_connections()
	local opts = options()
	local list = { rec("b1", { online = 30 }), rec("b2", { online = 10 }), rec("b3", { online = 10 }),
		rec("b4", { online = 1, state = "suspect" }), rec("b5", { online = 0, cpu = 95 }) }
	t.eq(balance.least_connections(list, opts).id, "b2", "fewest online among the eligible, tie to the lower id")
	-- The balancer counts its own picks until the baseapp reports again, so a
	-- burst of logins between two heartbeats spreads out.
	local b = balance.new(options { strategy = "least_connections" })
	local count = {}
	for _ = 1, 30 do
		local id = b:pick(list).id
		count[id] = (count[id] or 0) + 1
	end
	t.same(count, { b2 = 15, b3 = 15 }, "a burst of 30 spreads over b2 and b3")
	b:reported("b2")
	t.eq(b:pick(list).id, "b2", "after b2's report its pending picks are forgotten")
end

function cases.weighted_random()
	local list = { rec("b1", { weight = 3 }), rec("b2"), rec("b3", { weight = 0 }), rec("b4") }
	local opts = options { weights = { b4 = 4, b1 = 100 } } -- b1's own weight wins over the config
	local count = { b1 = 0, b2 = 0, b3 = 0, b4 = 0 }
	local random = seeded(12345)
	local n = 80000
	for _ = 1, n do
		local id = balance.weighted_random(list, opts, random).id
		count[id] = count[id] + 1
	end
	t.eq(count.b3, 0, "weight 0 gets nothing")
	t.between(count.b1 / n, 3 / 8 - 0.02, 3 / 8 + 0.02, "b1's share (3/8)")
	t.between(count.b2 / n, 1 / 8 - 0.02, 1 / 8 + 0.02, "b2's share (1/8)")
	t.between(count.b4 / n, 4 / 8 - 0.02, 4 / 8 + 0.02, "b4's share (4/8)")
	-- Deterministic with the same seed, whatever the list order.
	local a, b = seeded(7), seeded(7)
	local reversed = { list[4], list[3], list[2], list[1] }
	for _ = 1, 100 do
		t.eq(balance.weighted_random(list, opts, a).id, balance.weighted_random(reversed, opts, b).id, "same draw")
	end
	local zero = { rec("b1", { weight = 0 }), rec("b2", { weight = 0 }) }
	local r, code = balance.weighted_random(zero, opts, random)
	t.eq(r, nil, "all weights 0")
	t.eq(code, balance.NO_BASEAPP, "all weights 0: no baseapp")
end

function cases.consistent_hash()
	local opts = options()
	local list = { rec("b1"), rec("b2"), rec("b3") }
	local cache = {}
	local first = {}
	for a = 1, 1000 do
		first[a] = balance.consistent_hash(list, opts, a, cache).id
	end
	-- The same account always lands on the same baseapp, in any list order
	-- and with or without the cache.
	local shuffled = { list[3], list[1], list[2] }
	for a = 1, 1000 do
		t.eq(balance.consistent_hash(shuffled, opts, a).id, first[a], "account " .. a)
	end
	-- A full or suspect owner passes its accounts on; the others keep theirs.
	local busy = { rec("b1"), rec("b2", { online = 99 }), rec("b3") }
	for a = 1, 1000 do
		local id = balance.consistent_hash(busy, opts, a, cache).id
		t.ok(id ~= "b2", "a full baseapp gets nothing")
		if first[a] ~= "b2" then
			t.eq(id, first[a], "account " .. a .. " stays")
		end
	end
	-- The cache follows the set of ids: b4 replacing b3 (same count) and
	-- another vnodes count both rebuild the ring.
	local other = { rec("b1"), rec("b2"), rec("b4") }
	local fewer = options { vnodes = 7 }
	for a = 1, 300 do
		t.eq(balance.consistent_hash(other, opts, a, cache).id, balance.consistent_hash(other, opts, a).id, "b4 in")
		t.eq(balance.consistent_hash(list, fewer, a, cache).id, balance.consistent_hash(list, fewer, a).id, "vnodes")
	end
	t.raises("needs an account", balance.consistent_hash, list, opts, nil)
	local b = balance.new(options { strategy = "consistent_hash" })
	t.eq(b:pick(list, "alice").id, b:pick(list, "alice").id, "the balancer: same account, same baseapp")
end

-- Moved share when the ring goes from ids `from` to ids `to`, over the
-- accounts' precomputed hashes; also checks that every moved account moved
-- to or from the one baseapp that changed.
local function moved(hashes, from, to, vnodes, changed)
	local r1, r2 = balance.ring(from, vnodes), balance.ring(to, vnodes)
	local owner = balance.ring_owner_of_hash
	local n = 0
	for _, h in ipairs(hashes) do
		local a, b = owner(r1, h), owner(r2, h)
		if a ~= b then
			n = n + 1
			t.ok(a == changed or b == changed, "only accounts of " .. changed .. " move")
		end
	end
	return n / #hashes
end

function cases.hash_movement_bound()
	local accounts = 100000
	local vnodes = balance.config(shoal.config).vnodes
	local hashes = {}
	for a = 1, accounts do
		hashes[a] = balance.hash32(tostring(a))
	end
	-- The ring's lookup must be the one consistent_hash uses.
	local ids = { "b1", "b2", "b3" }
	local ring = balance.ring(ids, vnodes)
	local list = { rec("b1"), rec("b2"), rec("b3") }
	for a = 1, 200 do
		t.eq(balance.ring_owner(ring, tostring(a)), balance.consistent_hash(list, options(), a).id, "ring owner")
	end
	local worst = 0
	for n = 3, 10 do
		local before = {}
		for i = 1, n do
			before[i] = "baseapp-" .. i
		end
		-- join: n -> n + 1 baseapps
		local after = { table.unpack(before) }
		after[#after + 1] = "baseapp-" .. (n + 1)
		local share = moved(hashes, before, after, vnodes, after[#after])
		local bound = 1 / (n + 1) + 0.05
		t.ok(share <= bound, string.format("join to %d: %.4f moved, bound %.4f", n + 1, share, bound))
		worst = math.max(worst, share - 1 / (n + 1))
		-- leave: n -> n - 1 (one in the middle)
		local gone = before[(n + 1) // 2]
		local left = {}
		for _, id in ipairs(before) do
			if id ~= gone then
				left[#left + 1] = id
			end
		end
		share = moved(hashes, before, left, vnodes, gone)
		bound = 1 / n + 0.05
		t.ok(share <= bound, string.format("leave from %d: %.4f moved, bound %.4f", n, share, bound))
		worst = math.max(worst, share - 1 / n)
		shoal.log(string.format("balance: N=%d join moved %.4f, leave moved %.4f (1/N %.4f)", n,
			moved(hashes, before, after, vnodes, after[#after]), share, 1 / n))
	end
	shoal.log(string.format("balance: worst excess over 1/N: %.4f (allowed 0.05)", worst))
end

function cases.score()
	local opts = options { max_cpu = 100, max_mem = 1000 }
	-- Online weighs most by default: b2 (idle CPU, half full) loses to b1.
	local list = { rec("b2", { online = 50, cpu = 10, mem = 100 }), rec("b1", { online = 10, cpu = 40, mem = 300 }) }
	t.eq(balance.score(list, opts).id, "b1", "lower score wins")
	t.eq(balance.score_of(list[2], opts), (30 * 40 + 20 * 30 + 50 * 10) / 100, "the score formula")
	-- A baseapp still starting is penalised: the same load loses to one a
	-- little busier...
	list = { rec("b1", { starting = true }), rec("b2", { online = 20 }) }
	t.eq(balance.score(list, opts).id, "b2", "starting penalised")
	-- ... but is still used when the others are much busier.
	list = { rec("b1", { starting = true }), rec("b2", { online = 89, cpu = 80 }) }
	t.eq(balance.score(list, opts).id, "b1", "starting still used")
	-- Over a limit gets nothing, however good its other figures: online, memory, CPU.
	for _, over in ipairs({ { online = 90 }, { mem = 900 }, { cpu = 95 } }) do
		list = { rec("b1", over), rec("b2", { online = 80, cpu = 80, mem = 800 }) }
		t.eq(balance.score(list, opts).id, "b2", "b1 over its limit")
	end
	-- The record's own limits beat the config's.
	list = { rec("b1", { online = 200, max_online = 1000 }), rec("b2", { online = 50, max_online = 60 }) }
	t.eq(balance.score(list, opts).id, "b1", "own max_online")
	-- Ties go to the lower id; the balancer's pending picks spread a burst.
	list = { rec("b2"), rec("b1") }
	t.eq(balance.score(list, opts).id, "b1", "tie")
	local b = balance.new(options { strategy = "score" })
	local count = { b1 = 0, b2 = 0 }
	for _ = 1, 40 do
		local id = b:pick(list).id
		count[id] = count[id] + 1
	end
	t.same(count, { b1 = 20, b2 = 20 }, "a burst spreads")
end

function cases.over_capacity()
	local list = { rec("b1", { online = 95 }), rec("b2", { cpu = 99 }), rec("b3", { state = "suspect" }) }
	for _, s in ipairs(balance.STRATEGIES) do
		local b = balance.new(options { strategy = s, max_mem = 0 })
		local r, code, why = b:pick(list, "acc")
		t.eq(r, nil, s .. ": nothing picked")
		t.eq(code, balance.OVER_CAPACITY, s .. ": over capacity")
		t.contains(why, "all 2 live baseapps are over their high-water mark (90%)", s)
		t.same(b:capacity(list), { live = 2, full = 2, over = true }, s .. ": capacity")
	end
	-- No live baseapp at all is another reason.
	local b = balance.new(options())
	local r, code, why = b:pick({ rec("b3", { state = "suspect" }) })
	t.eq(r, nil, "none live")
	t.eq(code, balance.NO_BASEAPP, "none live: no baseapp")
	t.contains(why, "no live baseapp (1 known)", "why")
	r, code = b:pick({})
	t.eq(code, balance.NO_BASEAPP, "empty list: no baseapp")
	t.same(b:capacity({}), { live = 0, full = 0, over = false }, "empty: not over")
	-- One baseapp under its mark is enough.
	list[#list + 1] = rec("b4", { online = 50 })
	t.eq(b:pick(list).id, "b4", "the one with room")
	t.same(b:capacity(list), { live = 3, full = 2, over = false }, "not over")
end

function cases.candidates()
	local opts = options { candidates = 5 }
	local list = {
		rec("b1", { online = 10, mem = 500 }),
		rec("b2", { online = 10, mem = 200 }),
		rec("b3", { online = 5, state = "suspect" }),
		rec("b4", { online = 2, starting = true }),
		rec("b5", { online = 95 }),
		rec("b6", { online = 30 }),
		rec("b7", { online = 1, state = "suspect", mem = 9 }),
	}
	local got = {}
	for i, c in ipairs(balance.candidates(list, opts)) do
		got[i] = c.id .. (c.healthy and "+" or "-")
	end
	t.same(got, { "b2+", "b1+", "b6+", "b4-", "b5-" }, "healthy first, then fewer online, less memory; at most 5")
	local c = balance.candidates(list, opts)[1]
	t.same(c, { id = "b2", host = "127.0.0.1", port = 7000, online = 10, mem = 200, healthy = true }, "an entry")
	opts.candidates = 100
	t.eq(#balance.candidates(list, opts), 7, "all of them")
	t.eq(balance.candidates(list, opts)[7].id, "b3", "suspect last")
	t.same(balance.candidates({}, opts), {}, "empty")
end

function cases.from_registry()
	local c = { type = "baseapp", id = "b1", inc = 2, node = 3, addr = "10.0.0.5", port = 7000, eaddr = "1.2.3.4",
		eport = 9000, tags = {}, state = "alive", age_ms = 10,
		status = { online = 12, cpu = 33.5, mem = 180, starting = "1", max_online = 500, map = "x" } }
	t.same(balance.from_registry(c), { id = "b1", node = 3, state = "alive", online = 12, cpu = 33.5, mem = 180,
		starting = true, max_online = 500, host = "1.2.3.4", port = 9000 }, "record")
	c.eport, c.eaddr, c.status.starting = 0, "", "false"
	local r = balance.from_registry(c)
	t.eq(r.host, "10.0.0.5", "internal address without an external one")
	t.eq(r.port, 7000, "internal port")
	t.eq(r.starting, false, "not starting")
	c.status.starting = nil
	t.eq(balance.from_registry(c).starting, false, "no starting field")
	c.state = "suspect"
	t.eq(balance.from_registry(c).state, "suspect", "suspect kept")
	local function refused(change, pattern)
		local copy = { state = "alive", id = 7, addr = "h", port = 1, status = { online = 1, cpu = 1, mem = 1 } }
		change(copy)
		local r2, err = balance.from_registry(copy)
		t.eq(r2, nil, pattern)
		t.contains(err, pattern, "why")
	end
	refused(function(x)
		x.state = "dead"
	end, "baseapp 7 is dead")
	refused(function(x)
		x.status.cpu = nil
	end, "baseapp 7: status field 'cpu' is missing")
	refused(function(x)
		x.status.online = "lots"
	end, "status field 'online' is lots, not a number >= 0")
	refused(function(x)
		x.status.mem = 0 / 0
	end, "status field 'mem' is")
	refused(function(x)
		x.status.starting = "maybe"
	end, "status field 'starting' is maybe, not 0/1")
	refused(function(x)
		x.status.max_online = 0
	end, "status field 'max_online' is 0")
	t.eq(select(2, balance.from_registry("b1")), "not a registry component", "not a table")
	-- A record the adapter builds passes every strategy.
	local ok = balance.from_registry({ state = "alive", id = 1, addr = "h", port = 1,
		status = { online = 0, cpu = 0, mem = 0 } })
	for _, s in ipairs(balance.STRATEGIES) do
		t.eq(balance.new(options { strategy = s }):pick({ ok }, 1).id, "1", s)
	end
end

function cases.bad_input()
	local opts = options()
	for _, s in ipairs(balance.STRATEGIES) do
		local b = balance.new(options { strategy = s })
		t.raises("balance: the baseapp list is a nil, not a table", b.pick, b, nil, 1)
		local no_online = rec("b2")
		no_online.online = nil
		t.raises("balance: baseapp #2 (b2): field 'online' is missing", b.pick, b, { rec("b1"), no_online }, 1)
		t.raises("balance: baseapp #1 (b1): field 'cpu' is NaN", b.pick, b, { rec("b1", { cpu = 0 / 0 }) }, 1)
		t.raises("field 'mem' is inf, not a finite number >= 0", b.pick, b, { rec("b1", { mem = math.huge }) }, 1)
		t.raises("field 'online' is -1, not a finite number >= 0", b.pick, b, { rec("b1", { online = -1 }) }, 1)
		t.raises("field 'online' is a string, not a number", b.pick, b, { rec("b1", { online = "3" }) }, 1)
		t.raises("baseapp #1: field 'id' must be a non-empty string", b.pick, b, { rec(nil) }, 1)
		t.raises("baseapp #2 (b1): id is also baseapp #1", b.pick, b, { rec("b1"), rec("b1") }, 1)
		t.raises("field 'state' is dead, not alive or suspect", b.pick, b, { rec("b1", { state = "dead" }) }, 1)
		t.raises("field 'starting' is a string, not a boolean", b.pick, b, { rec("b1", { starting = "yes" }) }, 1)
		t.raises("field 'max_online' is 0", b.pick, b, { rec("b1", { max_online = 0 }) }, 1)
		t.raises("baseapp #1: is a string, not a record", b.pick, b, { "b1" }, 1)
	end
	t.raises("balance: baseapp #1 (b1): field 'cpu' is NaN", balance.candidates, { rec("b1", { cpu = 0 / 0 }) }, opts)
	t.raises("option 'high_water' is NaN", balance.score, { rec("b1") }, options { high_water = 0 / 0 })
	t.raises("options must be a table", balance.least_connections, { rec("b1") }, nil)
end

t.start(cases, { "defaults_from_schema", "round_robin", "least_connections", "weighted_random", "consistent_hash",
	"hash_movement_bound", "score", "over_capacity", "candidates", "from_registry", "bad_input" })
