-- game/space.lua - one space (map) as a cellapp holds it: entities with a
-- position, a direction, public properties (everyone in range sees them)
-- and owner-only properties (only the entity's own client sees them), over
-- the C area of interest (shoal.aoi). No messages of its own: events leave
-- through opts.deliver(mailbox, kind, data). See docs/space.md.
--
--   local space = require "game.space"
--   local s = space.new { id = "s1", width = 1000, height = 1000, radius = 30, max_speed = 20,
--                         deliver = function(mailbox, kind, data) ... end }
--   s:enter(eid, { x =, y =, dir =, public = {}, owner = {}, mailbox = m [, watcher = bool] })
--   s:move(eid, x, y, dir, now_ms)   s:set_prop(eid, key, value, "public" | "owner")
--   s:tick(now_ms)                   -- the AOI events and property changes go out
--   s:snapshot() / space.restore(opts, snap)   s:freeze() / s:unfreeze() / s:apply(list)

local shoal = require "shoal"
local aoi = require "shoal.aoi"

local space = {}
local Space = {}
Space.__index = Space

-- Movement credit: a move may cover max_speed x the time since the
-- entity's last accepted move, but never more than this much time, so
-- standing still does not bank a teleport.
space.MAX_DT_MS = 1000
space.MAX_QUEUE = 10000 -- default bound of the queue while frozen
space.MAX_VALUE_BYTES = 65536 -- a property value, serialized
space.LOG_EVERY_MS = 1000 -- refusals are logged once per entity per this
local SNAPSHOT_VERSION = 1
local REC = aoi.RECORD_SIZE
local ENTER = aoi.ENTER

local function copy(v)
	if type(v) ~= "table" then
		return v
	end
	local t = {}
	for k, x in pairs(v) do
		t[k] = copy(x)
	end
	return t
end

local function finite(v)
	return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge
end

-- A value shoal.serial takes, within the size bound: nil or why.
local function bad_value(v)
	local ok, s = pcall(shoal.packstring, v)
	if not ok then
		return "bad value"
	end
	if #s > space.MAX_VALUE_BYTES then
		return "value too big"
	end
end

local function bad_props(t)
	if t == nil then
		return nil
	end
	if type(t) ~= "table" then
		return "bad value"
	end
	for k, v in pairs(t) do
		if type(k) ~= "string" or k == "" then
			return "bad key"
		end
		local why = bad_value(v)
		if why then
			return why
		end
	end
end

local function check_opts(opts)
	assert(type(opts) == "table", "space: opts must be a table")
	assert(type(opts.deliver) == "function", "space: opts.deliver must be a function")
	local max_queue = opts.max_queue or space.MAX_QUEUE
	assert(math.type(max_queue) == "integer" and max_queue >= 0, "space: opts.max_queue must be an integer >= 0")
end

local function geometry(opts)
	return { width = opts.width, height = opts.height, radius = opts.radius, max_speed = opts.max_speed or 0,
		max_entities = opts.max_entities }
end

function space.new(opts)
	check_opts(opts)
	local s = setmetatable({
		id = opts.id,
		opts = { id = opts.id, width = opts.width, height = opts.height, radius = opts.radius,
			max_speed = opts.max_speed or 0, max_entities = opts.max_entities, max_queue = opts.max_queue },
		deliver = opts.deliver,
		max_queue = opts.max_queue or space.MAX_QUEUE,
		aoi = aoi.new(geometry(opts)), -- raises "aoi: ..." on a bad geometry
		ents = {}, -- eid -> {x, y, dir, public, owner, mailbox, watcher, last_ms, logged_ms}
		n = 0,
		dirty_public = {}, -- eid -> {key = true}: changed since the last tick
		dirty_owner = {},
		full_view = {}, -- watcher eid -> true: gets its whole view at the next tick
		queue = nil, -- while frozen: the ops in arrival order
		st = { moves = 0, refused = {}, events = 0 },
	}, Space)
	return s
end

local function count_refusal(s, why)
	s.st.refused[why] = (s.st.refused[why] or 0) + 1
end

-- While frozen an op is queued (true, "queued") or refused ("queue full").
local function queued(s, op)
	if #s.queue >= s.max_queue then
		count_refusal(s, "queue full")
		return nil, "queue full"
	end
	s.queue[#s.queue + 1] = op
	return true, "queued"
end

-- s:enter(eid, spec) -> true | nil, why. spec.watcher defaults to
-- "has a mailbox": players watch, NPCs are only seen.
function Space:enter(eid, spec)
	assert(type(spec) == "table", "space.enter: spec must be a table")
	if self.queue then
		return queued(self, { "enter", eid, copy(spec) })
	end
	if math.type(eid) ~= "integer" then
		return nil, aoi.refusals.BAD_ID
	end
	local dir = spec.dir or 0
	if not finite(dir) or not finite(spec.x) or not finite(spec.y) then
		return nil, aoi.refusals.NOT_A_NUMBER
	end
	local why = bad_props(spec.public) or bad_props(spec.owner)
	if why then
		return nil, why
	end
	local watcher = spec.watcher
	if watcher == nil then
		watcher = spec.mailbox ~= nil
	end
	local ok, refused = self.aoi:add(eid, spec.x, spec.y, watcher)
	if not ok then
		return nil, refused
	end
	self.ents[eid] = { x = spec.x, y = spec.y, dir = dir, public = copy(spec.public or {}),
		owner = copy(spec.owner or {}), mailbox = spec.mailbox, watcher = watcher and true or false }
	self.n = self.n + 1
	if watcher then -- its whole view and its own properties at the next tick
		self.full_view[eid] = true
	end
	return true
end

-- s:leave(eid) -> true | false. The watchers that saw it get a leave.
function Space:leave(eid)
	if self.queue then
		return queued(self, { "leave", eid })
	end
	if not self.ents[eid] then
		return false
	end
	self.aoi:remove(eid)
	self.ents[eid] = nil
	self.n = self.n - 1
	self.dirty_public[eid], self.dirty_owner[eid], self.full_view[eid] = nil, nil, nil
	return true
end

local function refuse_move(s, eid, e, why, now_ms)
	count_refusal(s, why)
	if e then
		if not e.logged_ms or now_ms - e.logged_ms >= space.LOG_EVERY_MS then
			e.logged_ms = now_ms
			shoal.warn(string.format("space %s: move of entity %s refused: %s", tostring(s.id), tostring(eid), why))
		end
		if e.mailbox ~= nil then
			s.deliver(e.mailbox, "refused", { x = e.x, y = e.y, why = why })
		end
	end
	return nil, why
end

-- s:move(eid, x, y, dir, now_ms) -> true | nil, why. Validated by the AOI
-- (bounds, NaN, speed over the time since the last accepted move); a
-- refused move changes nothing, is counted, logged at most once a second
-- per entity and delivered to its client as "refused" {x, y, why} (x, y:
-- where the entity really is).
function Space:move(eid, x, y, dir, now_ms)
	assert(finite(now_ms), "space.move: now_ms must be a finite number")
	if self.queue then
		return queued(self, { "move", eid, x, y, dir, now_ms })
	end
	local e = self.ents[eid]
	if not e then
		return refuse_move(self, eid, nil, aoi.refusals.UNKNOWN_ENTITY, now_ms)
	end
	if type(x) ~= "number" or type(y) ~= "number" or (dir ~= nil and not finite(dir)) then
		return refuse_move(self, eid, e, aoi.refusals.NOT_A_NUMBER, now_ms)
	end
	local dt = e.last_ms and now_ms - e.last_ms or space.MAX_DT_MS
	if dt > space.MAX_DT_MS then
		dt = space.MAX_DT_MS
	end
	local ok, why = self.aoi:move(eid, x, y, dt)
	if not ok then
		return refuse_move(self, eid, e, why, now_ms)
	end
	e.x, e.y, e.last_ms = x, y, now_ms
	if dir ~= nil and dir ~= e.dir then
		e.dir = dir
		local d = self.dirty_public[eid] or {}
		d.dir = true -- the direction goes out as the public key "dir"
		self.dirty_public[eid] = d
	end
	self.st.moves = self.st.moves + 1
	return true
end

-- s:set_prop(eid, key, value, scope) -> true | nil, why. "public": every
-- watcher in range and the owner see it; "owner": only the owner. The last
-- value per key per tick goes out at the next tick. "dir" is reserved.
function Space:set_prop(eid, key, value, scope)
	if self.queue then
		return queued(self, { "set_prop", eid, key, copy(value), scope })
	end
	local e = self.ents[eid]
	if not e then
		return nil, aoi.refusals.UNKNOWN_ENTITY
	end
	if type(key) ~= "string" or key == "" or key == "dir" then
		return nil, "bad key"
	end
	if scope ~= "public" and scope ~= "owner" then
		return nil, "bad scope"
	end
	local why = bad_value(value)
	if why then
		return nil, why
	end
	local dirty = scope == "public" and self.dirty_public or self.dirty_owner
	e[scope][key] = copy(value)
	local d = dirty[eid] or {}
	d[key] = true
	dirty[eid] = d
	return true
end

-- s:set_mailbox(eid, m) -> true | nil, why. A new client knows nothing: the
-- entity (a watcher) gets its whole view and its own properties at the next tick.
function Space:set_mailbox(eid, m)
	local e = self.ents[eid]
	if not e then
		return nil, aoi.refusals.UNKNOWN_ENTITY
	end
	e.mailbox = m
	if e.watcher then
		self.full_view[eid] = true
	end
	return true
end

-- The whole view of watcher w as AOI enter records.
local function view_records(s, w)
	local parts = {}
	for i, o in ipairs(s.aoi:neighbours(w)) do
		local e = s.ents[o]
		parts[i] = string.pack(aoi.RECORD_FORMAT, ENTER, o, e.x, e.y)
	end
	return table.concat(parts)
end

-- Appends the records recs to watcher w's list. A record {subject, key,
-- value} is made once per tick and shared by every watcher it goes to:
-- a crowd of n in view of each other costs n records a change, not n x n
-- (and the cellapp encodes each shared record once).
local function add_records(lists, w, recs)
	local l = lists[w]
	if not l then
		l = {}
		lists[w] = l
	end
	for i = 1, #recs do
		l[#l + 1] = recs[i]
	end
end

-- The records of subject's direction and every public property, made
-- once per tick (cache: subject -> records).
local function public_records(s, cache, subject)
	local recs = cache[subject]
	if not recs then
		local e = s.ents[subject]
		recs = { { subject, "dir", e.dir } }
		for k, v in pairs(e.public) do
			recs[#recs + 1] = { subject, k, copy(v) }
		end
		cache[subject] = recs
	end
	return recs
end

-- s:tick(now_ms): flushes the AOI events ("aoi", one call per watcher)
-- and then the property changes ("props", one list per watcher): a
-- subject that came into view comes with its direction and all its public
-- properties, then the changes of this tick to subjects already in view.
function Space:tick(now_ms)
	local out, order, props = {}, {}, {}
	local pub = {} -- subject -> its public records (public_records)
	local got_all = {} -- w -> {subject = true}: got every public property already
	local has_enters = {}
	self.aoi:flush(function(w, events, enters)
		out[w] = events
		order[#order + 1] = w
		has_enters[w] = enters > 0
	end)
	for w in pairs(self.full_view) do -- a new client: its whole view replaces this tick's events
		if not out[w] then
			order[#order + 1] = w
		end
		out[w] = view_records(self, w)
		has_enters[w] = true
	end
	for _, w in ipairs(order) do
		local events, seen = out[w], {}
		if self.full_view[w] then -- and its own state
			seen[w] = true
			add_records(props, w, public_records(self, pub, w))
			local d = self.dirty_owner[w] or {}
			for k in pairs(self.ents[w].owner) do
				d[k] = true
			end
			self.dirty_owner[w] = d
		end
		for pos = 1, has_enters[w] and #events or 0, REC do
			if events:byte(pos) == ENTER then
				local subject = string.unpack(">I8", events, pos + 1)
				if self.ents[subject] and not seen[subject] then
					seen[subject] = true
					add_records(props, w, public_records(self, pub, subject))
				end
			end
		end
		got_all[w] = seen
	end
	self.full_view = {}
	for eid, keys in pairs(self.dirty_public) do
		local e = self.ents[eid]
		local to = self.aoi:neighbours(eid)
		if e.watcher then
			to[#to + 1] = eid -- the owner sees its own public properties
		end
		local recs = {}
		for k in pairs(keys) do
			recs[#recs + 1] = { eid, k, k == "dir" and e.dir or copy(e.public[k]) }
		end
		for _, w in ipairs(to) do
			if self.ents[w].watcher and not (got_all[w] and got_all[w][eid]) then
				add_records(props, w, recs)
			end
		end
	end
	for eid, keys in pairs(self.dirty_owner) do
		local e = self.ents[eid]
		local recs = {}
		for k in pairs(keys) do
			recs[#recs + 1] = { eid, k, copy(e.owner[k]) }
		end
		add_records(props, eid, recs)
	end
	self.dirty_public, self.dirty_owner = {}, {}
	for _, w in ipairs(order) do
		local e = self.ents[w]
		if #out[w] > 0 and e.mailbox ~= nil then
			self.st.events = self.st.events + #out[w] // REC
			self.deliver(e.mailbox, "aoi", out[w])
		end
	end
	for w, list in pairs(props) do
		local e = self.ents[w]
		if e.mailbox ~= nil then
			self.st.events = self.st.events + #list
			self.deliver(e.mailbox, "props", list)
		end
	end
end

-- s:entity(eid) -> {x, y, dir, public, owner} (a copy) | nil
function Space:entity(eid)
	local e = self.ents[eid]
	if not e then
		return nil
	end
	return { x = e.x, y = e.y, dir = e.dir, public = copy(e.public), owner = copy(e.owner) }
end

-- s:entities() -> {eid, ...} ascending
function Space:entities()
	local list = {}
	for eid in pairs(self.ents) do
		list[#list + 1] = eid
	end
	table.sort(list)
	return list
end

function Space:count()
	return self.n
end

function Space:neighbours(eid)
	return self.aoi:neighbours(eid)
end

-- s:snapshot() -> string: the options and every entity's state (position,
-- direction, properties, watcher flag, and its mailbox when shoal.serial
-- takes it), not the queue of a frozen space (unfreeze hands that on).
function Space:snapshot()
	local list = {}
	for _, eid in ipairs(self:entities()) do
		local e = self.ents[eid]
		local mailbox = e.mailbox
		if mailbox ~= nil and not pcall(shoal.packstring, mailbox) then
			mailbox = nil
		end
		list[#list + 1] = { eid, e.x, e.y, e.dir, e.public, e.owner, e.watcher, mailbox }
	end
	return shoal.packstring({ version = SNAPSHOT_VERSION, opts = self.opts, entities = list })
end

-- space.restore(opts, snap) -> a space | nil, why. The geometry comes from
-- the snapshot; deliver (and max_queue) from opts. No events are made for
-- the restore itself; every watcher gets its whole view at the next tick.
function space.restore(opts, snap)
	check_opts(opts)
	local ok, t = pcall(shoal.unpack, snap)
	if not ok or type(t) ~= "table" or t.version ~= SNAPSHOT_VERSION or type(t.opts) ~= "table"
		or type(t.entities) ~= "table" then
		return nil, "not a space snapshot"
	end
	local o = copy(t.opts)
	o.deliver = opts.deliver
	o.max_queue = opts.max_queue or o.max_queue
	local made, s = pcall(space.new, o)
	if not made then
		return nil, "bad snapshot options: " .. tostring(s)
	end
	for _, r in ipairs(t.entities) do
		local entered, why = s:enter(r[1], { x = r[2], y = r[3], dir = r[4], public = r[5], owner = r[6],
			watcher = r[7], mailbox = r[8] })
		if not entered then
			return nil, string.format("snapshot entity %s: %s", tostring(r[1]), tostring(why))
		end
	end
	s.aoi:flush(function() end) -- (every watcher is in full_view: its enter did that)
	return s
end

-- While frozen (a migration), enter/leave/move/set_prop are queued in
-- arrival order (at most max_queue, then "queue full") instead of applied.
function Space:freeze()
	self.queue = self.queue or {}
end

function Space:frozen()
	return self.queue ~= nil
end

-- s:unfreeze() -> the queued ops, in order ({"move", eid, x, y, dir,
-- now_ms}, {"set_prop", eid, key, value, scope}, {"enter", eid, spec},
-- {"leave", eid}); they are not applied here: s:apply(list) does.
function Space:unfreeze()
	local q = self.queue or {}
	self.queue = nil
	return q
end

-- s:apply(list) -> n_ok, {{i, why}, ...}: each op as if it arrived now
-- (queued again if the space is frozen).
function Space:apply(list)
	local n, failed = 0, {}
	for i, op in ipairs(list) do
		local ok, why
		local kind = type(op) == "table" and op[1]
		if kind == "move" or op[1] == "set_prop" or op[1] == "enter" or op[1] == "leave" then
			ok, why = Space[kind](self, table.unpack(op, 2, 6))
		else
			why = "bad op"
		end
		if ok then
			n = n + 1
		else
			failed[#failed + 1] = { i, why or "unknown entity" }
		end
	end
	return n, failed
end

-- s:stats() -> {entities, moves, refused = {why = n}, events, queued}
function Space:stats()
	return { entities = self.n, moves = self.st.moves, refused = copy(self.st.refused), events = self.st.events,
		queued = self.queue and #self.queue or 0 }
end

return space
