-- game/object.lua - distributed objects: a game object (a guild, an
-- auction lot, a team: any value shoal.serial takes, keyed by (type,
-- integer id)) is owned by exactly one node at a time, through a registry
-- lease (docs/registry.md "Leases"); docs/objects.md is the whole story.
--
--   local object = require "game.object"
--   local objs = object.new { type = "guild", dbmgr = ".dbmgr", registry = nil,  -- nil: the cluster's
--                             functions = { add = function(value, n) value.n = (value.n or 0) + n; return value.n end },
--                             create = function(id) return { n = 0 } end }     -- a never-saved object
--   object.commands(command)          -- adds object_lend and object_call to the service's command table
--   local o, code, why = objs:fetch(id)   -- the object, owned here now | nil, code, why
--   o.value.n = o.value.n + 1
--   objs:save(o)                      -- true | nil, code, why (NOTOWNER: it moved away; fetch again)
--   objs:call(id, "add", 5)           -- runs functions.add at the owner, without moving the object
--   objs:fetch_many { 3, 1, 2 }       -- {o3, o1, o2}, taken in id order (no deadlock)
--   objs:release(o)                   -- saved, lease released
--   object.stop()                     -- unsaved state written, every lease freed (also on SIGTERM)
--
-- Codes (shoal.errors): INVAL bad input, TIMEOUT the bound object_timeout_ms
-- passed, BUSY the owner is saving or just fetched it (retried within the
-- bound, then returned), NOTOWNER this node lost the object, STALE this
-- node's registry life ended (retried within the bound while a new life
-- registers), RAISED a called function raised, EXITING after object.stop,
-- FULL the registry's lease table is full, and the dbmgr's codes
-- (game/db.lua). Nothing waits past object_timeout_ms.
--
-- The rules that keep one owner: a node uses an object only while it holds
-- the object's lease at the epoch it recorded; a lend hands the lease over
-- with one registry step (transfer, epoch + 1) after writing any unsaved
-- state, and gives up its copy; the database row carries the epoch of its
-- writer and a save whose epoch is older than the row's is refused; and a
-- node whose heartbeats stopped getting through uses nothing
-- (game/object_life.lua). The row format and the fence are in
-- game/object_store.lua.
local shoal = require "shoal"
local serial = require "shoal.serial"
local life = require "game.object_life"
local store = require "game.object_store"

local errors = shoal.errors
local object = {}
local objects = {} -- this service's object sets: type -> set
local set = {}
set.__index = set

local function fail(code, fmt, ...)
	return nil, code, "object: " .. string.format(fmt, ...)
end

-- Bad input (a caller's bug, or a hostile request from another node): a
-- clear INVAL and a log line.
local function bad(fmt, ...)
	local why = "object: " .. string.format(fmt, ...)
	shoal.warn(why)
	return nil, errors.INVAL, why
end

-- Every object this service holds is dropped: its registry life ended (a
-- new registration), so its leases are gone.
local function drop_all(why)
	local n = 0
	for _, s in pairs(objects) do
		for id, rec in pairs(s.owned) do
			rec.lost = true
			s.owned[id] = nil
			n = n + 1
		end
	end
	if n > 0 then
		shoal.warn(string.format("object: %d objects dropped: %s", n, why))
	end
end

-- ---- an object set

local function config(opts, key, name)
	local v = opts[key]
	if v == nil then
		return shoal.config(name)
	end
	assert(math.type(v) == "integer" and v >= 0, "object.new: " .. key .. " must be an integer >= 0")
	return v
end

function object.new(opts)
	assert(type(opts) == "table", "object.new: a table of options is required")
	local t = opts.type
	assert(type(t) == "string" and t:match("^[%a_][%w_]*$") and #t <= 64,
		"object.new: type must be a name of A-Z a-z 0-9 _ (at most 64)")
	assert(objects[t] == nil, "object.new: type " .. t .. " is already served by this service")
	local s = setmetatable({
		type = t,
		store = store.new(opts.dbmgr, t),
		functions = opts.functions or {},
		create = opts.create or function()
			return {}
		end,
		interval = config(opts, "save_interval_ms", "object_save_interval_ms"),
		timeout = config(opts, "timeout_ms", "object_timeout_ms"),
		hold = config(opts, "hold_ms", "object_hold_ms"),
		owned = {}, -- id -> rec {id, epoch, value, blob, dirty, busy, pinned, lost}
		acquiring = {}, -- id -> true while this service takes it
		where = {}, nwhere = 0, -- id -> the owner's handle, as a call last found it
		acquired = {}, -- {id, epoch, how} of every acquisition (tests read it)
	}, set)
	life.start(opts.registry, drop_all)
	shoal.on_exit(object.stop) -- once per service would do; a second hook finds nothing left to do
	objects[t] = s
	if s.interval > 0 then
		shoal.fork(function()
			while objects[t] == s do
				shoal.sleep(s.interval)
				s:flush()
			end
		end)
	end
	return s
end

local function lease_name(s, id)
	return "obj." .. s.type .. "." .. id
end

local function check_id(id)
	if math.type(id) ~= "integer" or id < 0 then
		return bad("bad id %s (an integer >= 0)", tostring(id))
	end
	return true
end

local function remaining(deadline)
	return math.max(1, deadline - shoal.now())
end

-- Retries wait a little, more each time, with jitter: two nodes that want
-- the same object do not keep meeting.
local function backoff(k, deadline)
	shoal.sleep(math.min(remaining(deadline), math.random(1, 1 << math.min(k, 5))))
end

-- Waits (bounded) until no save or lend is running on rec and this life
-- is fresh (above).
local function settle(rec, deadline)
	while (rec.busy or not life.fresh()) and not rec.lost and shoal.now() < deadline do
		shoal.sleep(1)
	end
	return not rec.busy and life.fresh()
end

local function lose(s, rec, why)
	if s.owned[rec.id] == rec then
		s.owned[rec.id] = nil
	end
	rec.lost = true
	shoal.log(string.format("OBJ lost type=%s id=%d epoch=%d t=%d: %s", s.type, rec.id, rec.epoch,
		shoal.hpc() // 1000, why))
end

-- The write behind every save, fenced (game/object_store.lua): a node
-- that lost the object without knowing it cannot overwrite the new
-- owner's state.
local function write(s, rec, blob)
	local ok, code, why = s.store:write(rec.id, rec.epoch, blob)
	if ok == false then
		lose(s, rec, "the database row has epoch " .. code)
		return fail(errors.NOTOWNER, "%s %d: a newer owner (epoch %d) saved it", s.type, rec.id, code)
	end
	return ok, code, why
end

local function install(s, id, epoch, value, blob, how)
	local rec = { id = id, epoch = epoch, value = value, blob = blob, pinned = shoal.now() + s.hold, wanted = 0 }
	s.owned[id] = rec
	s.acquired[#s.acquired + 1] = { id = id, epoch = epoch, how = how }
	shoal.log(string.format("OBJ acquire type=%s id=%d epoch=%d node=%d how=%s t=%d", s.type, id, epoch,
		shoal.config("node"), how, shoal.hpc() // 1000))
	return rec
end

-- We hold the lease (l): the state comes from the database, which is
-- current (a lender writes before it hands over), and the row is claimed
-- at once with our epoch, fencing any older writer.
local function load(s, id, l)
	local row, code, why = s.store:read(id)
	if row == nil and code ~= nil then
		return nil, code, why
	end
	if row and row.epoch > l.epoch then
		shoal.error(string.format("object: %s %d: the database row has epoch %d, the lease %d (a restarted "
			.. "registry?): refused", s.type, id, row.epoch, l.epoch))
		return fail(errors.STALE, "%s %d: the row's epoch %d is newer than the lease's %d", s.type, id, row.epoch,
			l.epoch)
	end
	local value, blob
	if row then
		value, code, why = store.unpack(s.type, id, row.data, "the database")
		if value == nil then
			return nil, code, why
		end
		blob = row.data
	else
		local made, v = pcall(s.create, id)
		local packed, b = pcall(serial.packstring, v)
		if not made or not packed then
			return fail(errors.RAISED, "%s %d: create failed: %s", s.type, id, tostring(made and b or v))
		end
		value, blob = v, b
	end
	local ok
	ok, code, why = s.store:write(id, l.epoch, blob) -- the claim
	if ok == false then
		return fail(errors.NOTOWNER, "%s %d: a newer owner (epoch %d) saved it", s.type, id, code)
	elseif not ok then
		return nil, code, why
	end
	return install(s, id, l.epoch, value, blob, row and "load" or "new")
end

-- One try to make id ours: take the free lease and load, or borrow it
-- from the owner. Returns rec, or nil, code, why (BUSY, NOTOWNER and a
-- lost owner are worth another try).
local function acquire(s, id, deadline)
	local name = lease_name(s, id)
	local l, code, why = life.lease("lease", name, remaining(deadline))
	if l == nil then
		return nil, code, why
	end
	if l.granted then
		local rec
		rec, code, why = load(s, id, l)
		if rec == nil then
			life.lease("release", name, remaining(deadline)) -- an orphan lease would block the others
		end
		return rec, code, why
	end
	local h = l.holder and l.holder.status and l.holder.status.handle
	if math.type(h) ~= "integer" then
		return fail(errors.NOTOWNER, "%s %d: the holder reports no handle", s.type, id)
	end
	local ok, blob, epoch, text = shoal.trycalltimeout(remaining(deadline), h, "lua", "object_lend", s.type, id, life.me())
	if not ok then
		return nil, blob, epoch -- the call failed (code, text): the owner may be gone; the lease says next
	end
	if blob == nil then
		return nil, epoch, text -- the lender's refusal: nil, code, why
	end
	if math.type(epoch) ~= "integer" then
		return bad("%s %d: a bad lend answer from %s", s.type, id, shoal.address(h))
	end
	if blob == false then -- the lender had no copy: the database is current
		return load(s, id, { epoch = epoch })
	end
	if type(blob) ~= "string" then
		return bad("%s %d: a bad lend answer from %s", s.type, id, shoal.address(h))
	end
	-- The lease is ours now: a state that does not unpack is refused, and
	-- the next try (the lease granted to us) loads the database's.
	local value
	value, code, why = store.unpack(s.type, id, blob, "the lender")
	if value == nil then
		return nil, errors.NOTOWNER, why
	end
	return install(s, id, epoch, value, blob, "lend")
end

-- Worth another try within the bound: the owner is busy or gone, or this
-- life ended and keepalive registers a new one within an interval (STALE).
local RETRY = { [errors.BUSY] = true, [errors.NOTOWNER] = true, [errors.NODEDOWN] = true,
	[errors.NOSERVICE] = true, [errors.TIMEOUT] = true, [errors.EXITING] = true, [errors.STALE] = true }

local function stopped()
	return fail(errors.EXITING, "this service's objects are stopped (object.stop)")
end

local function fetch(s, id, deadline)
	local ok, code, why = check_id(id)
	if not ok then
		return nil, code, why
	end
	for k = 1, math.huge do
		if not life.running() then
			return stopped()
		end
		local rec = s.owned[id]
		if rec and rec.wanted == 0 and life.fresh() then
			rec.pinned = shoal.now() + s.hold
			return rec
		end
		-- (rec here: a lend waits for its turn; it goes first, then we borrow it back)
		if rec == nil and not s.acquiring[id] then
			s.acquiring[id] = true
			rec, code, why = acquire(s, id, deadline)
			s.acquiring[id] = nil
			if rec then
				return rec
			end
			if not RETRY[code] then
				return nil, code, why
			end
		end
		if shoal.now() >= deadline then
			return fail(errors.TIMEOUT, "%s %d: not acquired within %d ms (last: %s)", s.type, id, s.timeout,
				tostring(why or "another fetch of this service holds it up"))
		end
		if rec then
			shoal.sleep(1)
		else
			backoff(k, deadline)
		end
	end
end

function set:fetch(id)
	return fetch(self, id, shoal.now() + self.timeout)
end

-- In ascending id order, whatever the caller's order: two nodes that take
-- overlapping sets never wait on each other in a cycle.
function set:fetch_many(ids)
	if type(ids) ~= "table" then
		return bad("fetch_many: a list of ids is required")
	end
	local sorted = {}
	for i, id in ipairs(ids) do
		local ok, code, why = check_id(id)
		if not ok then
			return nil, code, why
		end
		sorted[i] = id
	end
	table.sort(sorted)
	local deadline, got = shoal.now() + self.timeout, {}
	for _, id in ipairs(sorted) do
		local rec, code, why = fetch(self, id, deadline)
		if rec == nil then
			return nil, code, why
		end
		got[id] = rec
	end
	local out = {}
	for i, id in ipairs(ids) do
		out[i] = got[id]
	end
	return out
end

local function owns(s, o)
	return type(o) == "table" and not o.lost and s.owned[o.id] == o
end

-- Makes o.value the object's state. With object_save_interval_ms 0 it is
-- in the database when this returns; else it is written within the
-- interval (and before the object moves to another node).
function set:save(o)
	if not owns(self, o) then
		return fail(errors.NOTOWNER, "%s %s: not owned here any more (fetch it again)", self.type,
			tostring(type(o) == "table" and o.id))
	end
	local deadline = shoal.now() + self.timeout
	if not settle(o, deadline) then
		if o.lost then
			return fail(errors.NOTOWNER, "%s %d: it moved to another node meanwhile", self.type, o.id)
		end
		o.value = serial.unpackstring(o.blob) -- not saved: back to the object's state
		if o.busy then
			return fail(errors.BUSY, "%s %d: a save or a lend did not finish within %d ms", self.type, o.id,
				self.timeout)
		end
		return fail(errors.TIMEOUT, "%s %d: no heartbeat got through to the registry within %d ms", self.type, o.id,
			self.timeout)
	end
	if not owns(self, o) then
		return fail(errors.NOTOWNER, "%s %d: it moved to another node meanwhile", self.type, o.id)
	end
	local packed, blob = pcall(serial.packstring, o.value)
	if not packed then
		o.value = serial.unpackstring(o.blob) -- back to the last state the object had
		return bad("%s %d: the serializer refuses the value (%s); it is back to the last save",
			self.type, o.id, tostring(blob))
	end
	o.pinned = 0
	if self.interval > 0 then
		o.blob, o.dirty = blob, true
		return true
	end
	o.busy = true
	local ok, code, why = write(self, o, blob)
	o.busy = false
	if not ok then
		if not o.lost then
			o.value = serial.unpackstring(o.blob)
		end
		return nil, code, why
	end
	o.blob = blob
	return true
end

local function flush_one(s, rec)
	if rec.dirty and not rec.busy and not rec.lost and life.fresh() then
		rec.busy, rec.dirty = true, false
		local ok, code, why = write(s, rec, rec.blob)
		rec.busy = false
		if not ok and not rec.lost then
			rec.dirty = true
			shoal.warn(string.format("object: %s %d: the write failed (%s %s), retried", s.type, rec.id,
				shoal.errname(code), tostring(why)))
		end
	end
end

local FLUSH_PARALLEL = 64 -- writes in flight at once: they share the dbmgr's batches

-- Writes every object changed since its last write (the interval's loop),
-- up to FLUSH_PARALLEL at once; returns when all are written or failed.
function set:flush()
	local dirty = {} -- first the list: the writes wait, and owned changes meanwhile
	for _, rec in pairs(self.owned) do
		if rec.dirty then
			dirty[#dirty + 1] = rec
		end
	end
	local nexti, running, me = 1, math.min(FLUSH_PARALLEL, #dirty), coroutine.running()
	if running == 0 then
		return
	end
	for _ = 1, running do
		shoal.fork(function()
			while nexti <= #dirty do
				local rec = dirty[nexti]
				nexti = nexti + 1
				flush_one(self, rec)
			end
			running = running - 1
			if running == 0 then
				shoal.wakeup(me)
			end
		end)
	end
	shoal.wait()
end

function set:release(o)
	if not owns(self, o) then
		return fail(errors.NOTOWNER, "%s %s: not owned here", self.type, tostring(type(o) == "table" and o.id))
	end
	local deadline = shoal.now() + self.timeout
	if not settle(o, deadline) then
		return fail(errors.BUSY, "%s %d: busy past %d ms", self.type, o.id, self.timeout)
	end
	o.busy = true
	local ok, code, why = write(self, o, o.blob)
	if ok then
		lose(self, o, "released")
		life.lease("release", lease_name(self, o.id), remaining(deadline))
	end
	o.busy = false
	return ok, code, why
end

-- Runs functions[fn] on rec here (the owner): the change is saved like
-- set:save; an error in fn puts the value back and is returned as RAISED.
local function run_here(s, rec, fn, deadline, ...)
	if not settle(rec, deadline) then
		return fail(errors.BUSY, "%s %d: busy past %d ms", s.type, rec.id, s.timeout)
	end
	if not owns(s, rec) then
		return fail(errors.NOTOWNER, "%s %d: it moved meanwhile", s.type, rec.id)
	end
	local res = table.pack(pcall(fn, rec.value, ...))
	if not res[1] then
		rec.value = serial.unpackstring(rec.blob)
		return fail(errors.RAISED, "%s %d: %s", s.type, rec.id, tostring(res[2]))
	end
	local ok, code, why = s:save(rec)
	if not ok then
		return nil, code, why
	end
	return table.unpack(res, 2, res.n)
end

-- The owner's handle of id, as a call last found it (at most 65,536 ids
-- remembered: past that the cache starts again).
local function remember(s, id, h)
	if s.where[id] == nil then
		s.nwhere = s.nwhere + 1
		if s.nwhere > 65536 then
			s.where, s.nwhere = {}, 1
		end
	end
	s.where[id] = h
end

-- Proxy mode: runs a registered function where the object is, without
-- moving it; takes it here only when nobody owns it.
function set:call(id, fn_name, ...)
	local ok, code, why = check_id(id)
	if not ok then
		return nil, code, why
	end
	local fn = self.functions[fn_name]
	if type(fn) ~= "function" then
		return bad("%s: no function %s", self.type, tostring(fn_name))
	end
	local deadline = shoal.now() + self.timeout
	for k = 1, math.huge do
		if not life.running() then
			return stopped()
		end
		local rec = self.owned[id]
		if rec then
			return run_here(self, rec, fn, deadline, ...)
		end
		local h, where_why = self.where[id], nil
		if h == nil then -- where is it? (cached until the owner refuses or is gone)
			h, where_why = life.holder(lease_name(self, id), remaining(deadline))
			if h and h ~= shoal.self() then
				remember(self, id, h)
			end
		end
		if h and h ~= shoal.self() then
			local r = table.pack(shoal.trycalltimeout(remaining(deadline), h, "lua", "object_call", self.type, id,
				fn_name, ...))
			if r[1] and not (r[2] == nil and RETRY[r[3]]) then
				return table.unpack(r, 2, r.n)
			elseif r[1] then -- the owner refused (busy, not the owner): it did not run; try again
				code, why = r[3], r[4]
				self.where[id] = nil
			elseif r[2] == errors.NOSERVICE then -- never delivered: the lease names a service that is gone
				code, why = r[2], r[3]
				self.where[id] = nil
			else -- sent, and no answer: at most once, so the caller decides
				self.where[id] = nil
				return fail(r[2], "%s %d: call %s: no answer from the owner (%s); it may have run", self.type, id,
					fn_name, tostring(r[3]))
			end
		elseif h ~= nil then -- free (or ours without a copy): take it here
			rec, code, why = fetch(self, id, deadline)
			if rec then
				return run_here(self, rec, fn, deadline, ...)
			end
			if not RETRY[code] then
				return nil, code, why
			end
		else
			code, why = errors.TIMEOUT, where_why
		end
		if shoal.now() >= deadline then
			return fail(errors.TIMEOUT, "%s %d: call %s not done within %d ms (last: %s)", self.type, id, fn_name,
				self.timeout, tostring(why))
		end
		backoff(k, deadline)
	end
end

-- ---- the owner's side (object.commands)

-- Another node borrows id: never waits on this service's own fetches
-- (BUSY at once), writes unsaved state, then moves the lease in one step.
-- Answers blob, epoch (blob false: no copy here, the database is current)
-- or nil, code, why.
local function lend(t, id, to)
	local s = objects[t]
	if s == nil then
		return bad("unknown object type %s", tostring(t))
	end
	local ok, code, why = check_id(id)
	if not ok then
		return nil, code, why
	end
	if type(to) ~= "table" or type(to.type) ~= "string" or type(to.id) ~= "string" or math.type(to.inc) ~= "integer" then
		return bad("lend: the borrower must be a component {type, id, inc}")
	end
	if not life.running() then
		return stopped()
	end
	if not life.fresh() then
		return fail(errors.BUSY, "%s %d: this node cannot reach the registry now", t, id)
	end
	local deadline = shoal.now() + s.timeout
	local rec = s.owned[id]
	if rec == nil then
		if s.acquiring[id] then
			return fail(errors.BUSY, "%s %d: this node is taking it itself", t, id)
		end
		local l
		l, code, why = life.lease("transfer", lease_name(s, id), remaining(deadline), to)
		if l == nil then
			return nil, code, why
		end
		if not l.transferred then
			return fail(errors.NOTOWNER, "%s %d: not held here", t, id)
		end
		return false, l.epoch
	end
	-- In use here (a save in flight, or fetched and not saved yet): wait
	-- for that one use, bounded, while this node's next fetch of it waits
	-- for us (rec.wanted) so that a busy owner cannot starve a borrower.
	local turn = math.min(deadline, shoal.now() + s.hold + 50)
	rec.wanted = rec.wanted + 1
	while (rec.busy or shoal.now() < rec.pinned) and not rec.lost and shoal.now() < turn do
		shoal.sleep(1)
	end
	rec.wanted = rec.wanted - 1
	if rec.lost then
		return fail(errors.NOTOWNER, "%s %d: not held here any more", t, id)
	end
	if rec.busy or shoal.now() < rec.pinned then
		return fail(errors.BUSY, "%s %d: in use here", t, id)
	end
	rec.busy = true
	if rec.dirty then
		rec.dirty = false
		ok, code, why = write(s, rec, rec.blob)
		if not ok then
			rec.dirty, rec.busy = not rec.lost, false
			return nil, code, why
		end
	end
	local l
	l, code, why = life.lease("transfer", lease_name(s, id), remaining(deadline), to)
	rec.busy = false
	if l and l.transferred then
		lose(s, rec, string.format("lent to %s/%s at epoch %d", to.type, to.id, l.epoch))
		return rec.blob, l.epoch
	end
	if l and not l.transferred then
		lose(s, rec, "the registry says another life holds it")
		return fail(errors.NOTOWNER, "%s %d: not held here", t, id)
	end
	if code == errors.INVAL then -- the registry refused the borrower: we keep the object
		shoal.warn(string.format("object: %s %d: a lend refused: %s", t, id, tostring(why)))
	else -- no clear answer: the database is current, so dropping our copy is safe
		lose(s, rec, "the transfer's answer was lost: " .. tostring(why))
	end
	return nil, code, why
end

local function call_here(t, id, fn_name, ...)
	local s = objects[t]
	if s == nil then
		return bad("unknown object type %s", tostring(t))
	end
	local ok, code, why = check_id(id)
	if not ok then
		return nil, code, why
	end
	local fn = s.functions[fn_name]
	if type(fn) ~= "function" then
		return bad("%s: no function %s", t, tostring(fn_name))
	end
	local rec = s.owned[id]
	if rec == nil then
		return fail(errors.NOTOWNER, "%s %d: not owned here", t, id)
	end
	return run_here(s, rec, fn, shoal.now() + s.timeout, ...)
end

-- Adds the owner's commands to a service's command table (for
-- shoal.dispatch_commands): object_lend(type, id, borrower) and
-- object_call(type, id, fn_name, ...).
function object.commands(command)
	command.object_lend = lend
	command.object_call = call_here
	return command
end

-- A graceful stop (also on SIGTERM): writes what is unsaved and leaves
-- the registry, so every lease of this service is free at once.
function object.stop()
	if not life.running() then
		return
	end
	for _, s in pairs(objects) do
		s:flush()
	end
	life.stop()
end

-- The {id, epoch, how} of every acquisition by this set, in order (how:
-- "new", "load" from the dbmgr, or "lend" from the owner).
function set:acquisitions()
	return self.acquired
end

return object
