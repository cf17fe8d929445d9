-- game/balance.lua - how baseappmgr chooses a baseapp for a player, and the
-- candidate list a loginapp hands to the client. Pure functions over a list
-- of baseapp records: no messages, no clock, no globals (docs/baseappmgr.md).
--
--   local balance = require "game.balance"
--   local opts = balance.config(shoal.config)        -- the baseappmgr_* keys
--   local b = balance.new(opts)                      -- a balancer: strategy + its state
--   local rec, code, why = b:pick(list, account)     -- a record, or nil + a reason code
--   local gates = b:candidates(list)                 -- sorted: healthy, fewer online, less memory
--   local rec, err = balance.from_registry(component) -- registry component -> record
--
-- A record (what every function here takes; from_registry builds it):
--   id          string, the baseapp's registry id (unique)
--   node        its node id (where baseappmgr calls it), any value
--   host, port  the gate's address for clients
--   state       "alive" or "suspect" (a dead one is not a record)
--   online      players on it now (>= 0)
--   cpu         CPU use, percent of one core (>= 0)
--   mem         memory use, MB (>= 0)
--   starting    true while it is still starting (loading, warming up)
--   max_online  optional: its own online limit (default baseappmgr_max_online)
--   max_mem     optional: its own memory limit, MB (default baseappmgr_max_mem_mb; 0: none)
--   weight      optional: weighted_random's weight (default baseappmgr_weights, else 1)
--
-- The rules every strategy shares:
--   * only "alive" baseapps get players;
--   * a baseapp at or over its high-water mark (baseappmgr_high_water percent
--     of max_online, max_mem or baseappmgr_max_cpu) gets nothing: it is full;
--   * no live baseapp: nil, balance.NO_BASEAPP; live ones but all full:
--     nil, balance.OVER_CAPACITY (the service raises an alert and a capacity
--     event); the third value is a sentence for the log.
-- Bad input (not a list, a record without a field, NaN, a negative count)
-- raises an error starting "balance: " that names the record and the field:
-- it is a bug of the caller, not a state of the cluster.

local balance = {}

balance.NO_BASEAPP = "no_baseapp"
balance.OVER_CAPACITY = "over_capacity"

balance.STRATEGIES = { "round_robin", "least_connections", "weighted_random", "consistent_hash", "score" }

-- ---- checking input

local function bad(i, rec, msg)
	local id = type(rec) == "table" and rec.id or nil
	error(string.format("balance: baseapp #%d%s: %s", i, id and (" (" .. tostring(id) .. ")") or "", msg), 0)
end

local function number_field(i, rec, name, optional)
	local v = rec[name]
	if v == nil then
		if optional then
			return
		end
		bad(i, rec, "field '" .. name .. "' is missing")
	end
	if type(v) ~= "number" then
		bad(i, rec, string.format("field '%s' is a %s, not a number", name, type(v)))
	end
	if v ~= v then
		bad(i, rec, "field '" .. name .. "' is NaN")
	end
	if v < 0 or v == math.huge then
		bad(i, rec, string.format("field '%s' is %s, not a finite number >= 0", name, tostring(v)))
	end
end

-- Raises unless list is a list of valid records with distinct ids.
function balance.check(list)
	if type(list) ~= "table" then
		error("balance: the baseapp list is a " .. type(list) .. ", not a table", 0)
	end
	local ids = {}
	for i, rec in ipairs(list) do
		if type(rec) ~= "table" then
			bad(i, nil, "is a " .. type(rec) .. ", not a record")
		end
		if type(rec.id) ~= "string" or rec.id == "" then
			bad(i, rec, "field 'id' must be a non-empty string")
		end
		if ids[rec.id] then
			bad(i, rec, "id is also baseapp #" .. ids[rec.id])
		end
		ids[rec.id] = i
		if rec.state ~= "alive" and rec.state ~= "suspect" then
			bad(i, rec, "field 'state' is " .. tostring(rec.state) .. ", not alive or suspect")
		end
		for _, name in ipairs({ "online", "cpu", "mem" }) do
			number_field(i, rec, name)
		end
		for _, name in ipairs({ "max_online", "max_mem", "weight" }) do
			number_field(i, rec, name, true)
		end
		if rec.max_online == 0 then
			bad(i, rec, "field 'max_online' is 0")
		end
		if rec.starting ~= nil and type(rec.starting) ~= "boolean" then
			bad(i, rec, "field 'starting' is a " .. type(rec.starting) .. ", not a boolean")
		end
	end
	return list
end

-- ---- options

-- Parses "id=w,id=w" (weights >= 0) into a table id -> weight.
local function parse_weights(text)
	local weights = {}
	for item in text:gmatch("[^,]+") do
		local id, w = item:match("^%s*([^=%s]+)%s*=%s*([%d.]+)%s*$")
		w = tonumber(w)
		if not id or not w or w ~= w or w == math.huge then
			error("balance: baseappmgr_weights: '" .. item .. "' is not id=weight (a number >= 0)", 0)
		end
		weights[id] = w
	end
	return weights
end

-- The options from the config schema: get is shoal.config (or any function
-- key -> value). Fields may be changed before balance.new.
function balance.config(get)
	return {
		strategy = get("baseappmgr_strategy"),
		vnodes = get("baseappmgr_vnodes"),
		weights = parse_weights(get("baseappmgr_weights")),
		max_online = get("baseappmgr_max_online"),
		max_mem = get("baseappmgr_max_mem_mb"),
		max_cpu = get("baseappmgr_max_cpu"),
		high_water = get("baseappmgr_high_water"),
		score_cpu = get("baseappmgr_score_cpu"),
		score_mem = get("baseappmgr_score_mem"),
		score_online = get("baseappmgr_score_online"),
		starting_penalty = get("baseappmgr_starting_penalty"),
		candidates = get("baseappmgr_candidates"),
	}
end

local OPTION_NUMBERS = { "vnodes", "max_online", "max_mem", "max_cpu", "high_water", "score_cpu", "score_mem",
	"score_online", "starting_penalty", "candidates" }

local function check_options(opts)
	if type(opts) ~= "table" then
		error("balance: options must be a table (balance.config(shoal.config))", 0)
	end
	for _, k in ipairs(OPTION_NUMBERS) do
		local v = opts[k]
		if type(v) ~= "number" or v ~= v or v < 0 or v == math.huge then
			error("balance: option '" .. k .. "' is " .. (v ~= v and "NaN" or tostring(v)) .. ", not a number >= 0", 0)
		end
	end
	if type(opts.weights) ~= "table" then
		error("balance: option 'weights' must be a table id -> weight", 0)
	end
	return opts
end

-- ---- the shared rules

-- A record's limits, with the options' defaults.
local function max_online(rec, opts)
	return rec.max_online or opts.max_online
end

local function max_mem(rec, opts)
	return rec.max_mem or opts.max_mem
end

-- True when rec is at or over its high-water mark on any limit.
function balance.full(rec, opts)
	local hw = opts.high_water / 100
	if rec.online >= hw * max_online(rec, opts) then
		return true
	end
	local mm = max_mem(rec, opts)
	if mm > 0 and rec.mem >= hw * mm then
		return true
	end
	return rec.cpu >= hw * opts.max_cpu
end

-- The records that may get a player (alive, not full), and the reason when
-- there are none.
local function eligible(list, opts)
	local out, live = {}, 0
	for _, rec in ipairs(list) do
		if rec.state == "alive" then
			live = live + 1
			if not balance.full(rec, opts) then
				out[#out + 1] = rec
			end
		end
	end
	if #out > 0 then
		return out
	end
	if live == 0 then
		return nil, balance.NO_BASEAPP, string.format("no live baseapp (%d known)", #list)
	end
	return nil, balance.OVER_CAPACITY,
		string.format("all %d live baseapps are over their high-water mark (%d%%)", live, opts.high_water)
end

local function by_id(a, b)
	return a.id < b.id
end

-- ---- the five strategies (each: list, opts, ... -> record | nil, code, why)

-- Round robin: the eligible baseapp whose id follows last_id (in id order,
-- wrapping), so joins and leaves do not reset the turn. Returns the record;
-- its id is the next call's last_id.
function balance.round_robin(list, opts, last_id)
	local ok, code, why = eligible(balance.check(list), check_options(opts))
	if not ok then
		return nil, code, why
	end
	local first, next_one
	for _, rec in ipairs(ok) do
		if first == nil or rec.id < first.id then
			first = rec
		end
		if last_id ~= nil and rec.id > last_id and (next_one == nil or rec.id < next_one.id) then
			next_one = rec
		end
	end
	return next_one or first
end

-- Least connections: the fewest online; ties go to the lower id.
function balance.least_connections(list, opts)
	local ok, code, why = eligible(balance.check(list), check_options(opts))
	if not ok then
		return nil, code, why
	end
	local best = ok[1]
	for i = 2, #ok do
		local rec = ok[i]
		if rec.online < best.online or (rec.online == best.online and rec.id < best.id) then
			best = rec
		end
	end
	return best
end

local function weight_of(rec, opts)
	return rec.weight or opts.weights[rec.id] or 1
end

-- Weighted random: chance proportional to the weight (status weight, else
-- baseappmgr_weights, else 1; 0 gets nothing). random() returns a float in
-- [0, 1) (math.random by default): a seeded one makes the picks repeatable.
function balance.weighted_random(list, opts, random)
	local ok, code, why = eligible(balance.check(list), check_options(opts))
	if not ok then
		return nil, code, why
	end
	table.sort(ok, by_id) -- the same draw picks the same baseapp whatever the list order
	local total = 0
	for _, rec in ipairs(ok) do
		total = total + weight_of(rec, opts)
	end
	if total <= 0 then
		return nil, balance.NO_BASEAPP, string.format("the %d eligible baseapps all have weight 0", #ok)
	end
	local r = (random or math.random)() * total
	local last
	for _, rec in ipairs(ok) do
		local w = weight_of(rec, opts)
		if w > 0 then
			last = rec
			if r < w then
				return rec
			end
			r = r - w
		end
	end
	return last -- rounding left r just past the end
end

-- 32-bit FNV-1a, then murmur3's finalizer: FNV alone clusters the ring
-- points of ids that differ in their last character.
local byte = string.byte
local function hash32(s)
	local h = 2166136261
	for i = 1, #s do
		h = ((h ~ byte(s, i)) * 16777619) & 0xffffffff
	end
	h = h ~ (h >> 16)
	h = (h * 0x85ebca6b) & 0xffffffff
	h = h ~ (h >> 13)
	h = (h * 0xc2b2ae35) & 0xffffffff
	return h ~ (h >> 16)
end
balance.hash32 = hash32

-- A ring: opts.vnodes points per id, sorted. ring.points[i] is a hash,
-- ring.owners[i] the id owning the arc that ends there.
function balance.ring(ids, vnodes)
	local pts = {}
	for _, id in ipairs(ids) do
		for v = 1, vnodes do
			pts[#pts + 1] = { hash32(id .. "#" .. v), id }
		end
	end
	table.sort(pts, function(a, b)
		if a[1] ~= b[1] then
			return a[1] < b[1]
		end
		return a[2] < b[2]
	end)
	local ring = { points = {}, owners = {} }
	for i, p in ipairs(pts) do
		ring.points[i], ring.owners[i] = p[1], p[2]
	end
	return ring
end

-- The index of the first point at or after hash h (wrapping to 1).
local function ring_index(ring, h)
	local pts = ring.points
	local lo, hi = 1, #pts
	if h > pts[hi] then
		return 1
	end
	while lo < hi do
		local mid = (lo + hi) // 2
		if pts[mid] < h then
			lo = mid + 1
		else
			hi = mid
		end
	end
	return lo
end

-- The id owning a hash (balance.hash32 of an account) on the ring.
function balance.ring_owner_of_hash(ring, h)
	return ring.owners[ring_index(ring, h)]
end

-- The id owning account's hash on the ring (for tests and the service).
function balance.ring_owner(ring, key)
	return balance.ring_owner_of_hash(ring, hash32(key))
end

-- Finds the first owner at or after index i (clockwise) that ok accepts.
local function ring_walk(ring, i, ok)
	local owners, n = ring.owners, #ring.owners
	for _ = 1, n do
		local id = owners[i]
		if ok[id] then
			return id
		end
		i = i % n + 1
	end
end

-- Consistent hash of the account: the owner of its point on a ring of every
-- known baseapp (alive or suspect), so that only the accounts of a baseapp
-- that joins or leaves move; when the owner cannot take the player (suspect
-- or full) the next eligible owner clockwise does. cache (optional, a
-- table) keeps the ring between calls while the set of ids is the same.
function balance.consistent_hash(list, opts, account, cache)
	if account == nil then
		error("balance: consistent_hash needs an account", 0)
	end
	local ok, code, why = eligible(balance.check(list), check_options(opts))
	if not ok then
		return nil, code, why
	end
	-- The cached ring fits when it was built for the same vnodes and the
	-- same set of ids (check guarantees the ids are distinct).
	local ring = cache and cache.ring
	if ring and (cache.vnodes ~= opts.vnodes or cache.n ~= #list) then
		ring = nil
	end
	for _, rec in ipairs(ring and list or {}) do
		if not cache.ids[rec.id] then
			ring = nil
			break
		end
	end
	if ring == nil then
		local ids, set = {}, {}
		for i, rec in ipairs(list) do
			ids[i], set[rec.id] = rec.id, true
		end
		table.sort(ids)
		ring = balance.ring(ids, opts.vnodes)
		if cache then
			cache.ring, cache.ids, cache.n, cache.vnodes = ring, set, #list, opts.vnodes
		end
	end
	local accept = {}
	for _, rec in ipairs(ok) do
		accept[rec.id] = rec
	end
	return accept[ring_walk(ring, ring_index(ring, hash32(tostring(account))), accept)]
end

-- A baseapp's score, in percent points (lower is better): the weighted mean
-- of its CPU, memory and online use against their limits, plus
-- starting_penalty while it is starting.
function balance.score_of(rec, opts)
	local wc, wm, wo = opts.score_cpu, opts.score_mem, opts.score_online
	local mm = max_mem(rec, opts)
	local s = 0
	if wc + wm + wo > 0 then
		s = (wc * 100 * rec.cpu / opts.max_cpu + wm * (mm > 0 and 100 * rec.mem / mm or 0)
			+ wo * 100 * rec.online / max_online(rec, opts)) / (wc + wm + wo)
	end
	if rec.starting then
		s = s + opts.starting_penalty
	end
	return s
end

-- Score: the lowest score; ties go to the lower id. A full baseapp (over a
-- high-water mark) gets nothing, whatever its score.
function balance.score(list, opts)
	local ok, code, why = eligible(balance.check(list), check_options(opts))
	if not ok then
		return nil, code, why
	end
	local best, best_s
	for _, rec in ipairs(ok) do
		local s = balance.score_of(rec, opts)
		if best == nil or s < best_s or (s == best_s and rec.id < best.id) then
			best, best_s = rec, s
		end
	end
	return best
end

-- ---- the candidate list

-- Every known baseapp as a gate for the client, best first: healthy ones
-- (alive, not starting, not full), then the others alive, then the suspect;
-- within each, fewer online, then less memory, then the id. At most
-- opts.candidates entries: {id, host, port, online, mem, healthy}.
function balance.candidates(list, opts)
	check_options(opts)
	local rows = {}
	for _, rec in ipairs(balance.check(list)) do
		local rank = 2
		if rec.state == "alive" then
			rank = (rec.starting or balance.full(rec, opts)) and 1 or 0
		end
		rows[#rows + 1] = { rank = rank, rec = rec }
	end
	table.sort(rows, function(a, b)
		if a.rank ~= b.rank then
			return a.rank < b.rank
		end
		local x, y = a.rec, b.rec
		if x.online ~= y.online then
			return x.online < y.online
		end
		if x.mem ~= y.mem then
			return x.mem < y.mem
		end
		return x.id < y.id
	end)
	local out = {}
	for i = 1, math.min(#rows, opts.candidates) do
		local rec = rows[i].rec
		out[i] = { id = rec.id, host = rec.host, port = rec.port, online = rec.online, mem = rec.mem,
			healthy = rows[i].rank == 0 }
	end
	return out
end

-- ---- capacity

-- {live = n, full = n, over = bool}: over is true when there are live
-- baseapps and every one is full (the service alerts on the change).
function balance.capacity(list, opts)
	check_options(opts)
	local live, full = 0, 0
	for _, rec in ipairs(balance.check(list)) do
		if rec.state == "alive" then
			live = live + 1
			if balance.full(rec, opts) then
				full = full + 1
			end
		end
	end
	return { live = live, full = full, over = live > 0 and full == live }
end

-- ---- the registry adapter

local function status_number(st, name, optional)
	local v = st[name]
	if v == nil then
		if optional then
			return nil
		end
		return nil, "status field '" .. name .. "' is missing"
	end
	if type(v) == "string" then
		v = tonumber(v)
	end
	if type(v) ~= "number" or v ~= v or v < 0 or v == math.huge then
		return nil, string.format("status field '%s' is %s, not a number >= 0", name, tostring(st[name]))
	end
	return v
end

local TRUE = { [true] = true, [1] = true, ["1"] = true, ["true"] = true }
local FALSE = { [false] = true, [0] = true, ["0"] = true, ["false"] = true }

-- A registry component (shoal/registry.lua: type, id, node, addr, port,
-- eaddr, eport, state, status = {...}) -> a record, or nil and why (a dead
-- component, or a status without online, cpu or mem). The client's address
-- is the external one (eaddr/eport) when the baseapp registered one.
function balance.from_registry(c)
	if type(c) ~= "table" or c.id == nil then
		return nil, "not a registry component"
	end
	local id = tostring(c.id)
	if c.state ~= "alive" and c.state ~= "suspect" then
		return nil, "baseapp " .. id .. " is " .. tostring(c.state)
	end
	local st = type(c.status) == "table" and c.status or {}
	local rec = { id = id, node = c.node, state = c.state }
	local err
	for _, name in ipairs({ "online", "cpu", "mem" }) do
		rec[name], err = status_number(st, name)
		if err then
			return nil, "baseapp " .. id .. ": " .. err
		end
	end
	for _, name in ipairs({ "max_online", "max_mem", "weight" }) do
		rec[name], err = status_number(st, name, true)
		if err then
			return nil, "baseapp " .. id .. ": " .. err
		end
	end
	if rec.max_online == 0 then
		return nil, "baseapp " .. id .. ": status field 'max_online' is 0"
	end
	if st.starting == nil or FALSE[st.starting] then
		rec.starting = false
	elseif TRUE[st.starting] then
		rec.starting = true
	else
		return nil, "baseapp " .. id .. ": status field 'starting' is " .. tostring(st.starting) .. ", not 0/1"
	end
	local eport = tonumber(c.eport) or 0
	if eport > 0 then
		rec.host, rec.port = c.eaddr ~= "" and c.eaddr or c.addr, eport
	else
		rec.host, rec.port = c.addr, tonumber(c.port)
	end
	return rec
end

-- ---- the balancer: a strategy with its state

local balancer = {}
balancer.__index = balancer

-- A balancer for opts (balance.config). random (optional) is weighted
-- random's source, a function returning a float in [0, 1).
function balance.new(opts, random)
	check_options(opts)
	local known = false
	for _, s in ipairs(balance.STRATEGIES) do
		known = known or s == opts.strategy
	end
	if not known then
		error(string.format("balance: unknown strategy '%s' (%s)", tostring(opts.strategy),
			table.concat(balance.STRATEGIES, ", ")), 0)
	end
	return setmetatable({ opts = opts, random = random, last = nil, ring = {}, pending = {} }, balancer)
end

-- Players sent to a baseapp since its last status report count as online:
-- status arrives once a heartbeat, and without this every login of that
-- interval would go to the same least-loaded baseapp.
function balancer:view(list)
	if next(self.pending) == nil then
		return list
	end
	local out = {}
	for i, rec in ipairs(list) do
		local p = type(rec) == "table" and rec.id and self.pending[rec.id]
		if p and type(rec.online) == "number" then
			local copy = {}
			for k, v in pairs(rec) do
				copy[k] = v
			end
			copy.online = rec.online + p
			rec = copy
		end
		out[i] = rec
	end
	return out
end

-- Picks a baseapp for account (consistent_hash needs it; the others
-- ignore it): the record, or nil, code, why. The pick counts as pending
-- online on that baseapp until balancer:reported(id).
function balancer:pick(list, account)
	local s, opts, rec, code, why = self.opts.strategy, self.opts, nil, nil, nil
	list = self:view(list)
	if s == "round_robin" then
		rec, code, why = balance.round_robin(list, opts, self.last)
	elseif s == "least_connections" then
		rec, code, why = balance.least_connections(list, opts)
	elseif s == "weighted_random" then
		rec, code, why = balance.weighted_random(list, opts, self.random)
	elseif s == "consistent_hash" then
		rec, code, why = balance.consistent_hash(list, opts, account, self.ring)
	else
		rec, code, why = balance.score(list, opts)
	end
	if rec then
		self.last = rec.id
		self.pending[rec.id] = (self.pending[rec.id] or 0) + 1
	end
	return rec, code, why
end

-- A fresh status of baseapp id arrived (its online count includes the
-- players sent so far), or it left: forget its pending picks.
function balancer:reported(id)
	self.pending[id] = nil
end

function balancer:candidates(list)
	return balance.candidates(self:view(list), self.opts)
end

function balancer:capacity(list)
	return balance.capacity(self:view(list), self.opts)
end

return balance
