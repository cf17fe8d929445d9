-- shoal/registry_etcd.lua - the registry client of lualib/shoal/registry.lua
-- on etcd (docs/registry.md, "The etcd backend"): the same methods, the
-- registry's state kept in etcd instead of cservice/registry.c.
--
--   local r = registry.new{backend = "etcd", endpoints = "127.0.0.1:2379,...",
--                          timeout = 1000, prefix = "/shoal/", dead = 4, suspect = 2}
--
-- Keys under the prefix P:
--   P.."c/T/I"    a component (JSON), bound to an etcd lease of TTL
--                 interval * dead (s, at least 2): one lease per life; a
--                 heartbeat is the lease's keepalive, a status change a put
--   P.."b/T/I"    a heartbeat: put (value: the inc) by every heartbeat
--                 without a status put, bound to the life's etcd lease;
--                 watchers that miss `suspect` intervals of them (and of
--                 status puts) send `suspect`, and `status` when they resume
--   P.."lk/NAME"  a marker put with a named lease's first grant: a free
--                 lease (no l/ key) is known, as on the built-in registry
--   P.."left/T/I" written in the same transaction as a leave's delete, so
--                 watchers tell `leave` (a delete with it) from `dead` (the
--                 lease expired)
--   P.."l/NAME"   a named lease: created if absent, bound to the holder's
--                 etcd lease (a transfer puts it with the target's); its epoch is
--                 the key's last put revision (mod_revision)
-- inc is the etcd revision of the register.
--
-- Errors: a request no etcd member answered within `timeout`, or that etcd
-- kept answering "leader changed" / "no leader" (asked again 3 times),
-- raises "registry: etcd unavailable: ..." (try* variants: code UNAVAIL).

local shoal = require "shoal"
local cjson = require "cjson"
local etcd = require "shoal.etcd"
local registry = require "shoal.registry" -- the on_register callbacks, shared

local b64, unb64 = etcd.b64, etcd.unb64
local M = {}
local client = {}
client.__index = client

local RESERVED = { type = true, id = true, inc = true, node = true, addr = true, port = true, eaddr = true,
	eport = true, tags = true, interval = true }

local function num(v)
	return math.tointeger(tonumber(v or 0)) or 0
end

local function fail(code, text)
	error(setmetatable({ code = code, text = text }, { __tostring = function(e) return e.text end }), 0)
end

-- gRPC codes etcd answers while it elects a leader or has no quorum
-- ("etcdserver: leader changed", "no leader", "request timed out"): an
-- outage, not a refusal. Asked again 3 times, 100 ms apart, then UNAVAIL.
local TRANSIENT = { [14] = true, [4] = true } -- Unavailable, DeadlineExceeded

local function call(self, path, body)
	local reply, err, refused
	for try = 1, 4 do
		reply, err, refused = self.etcd:post(path, body)
		if not (refused and TRANSIENT[num(refused.code)]) or try == 4 then
			break
		end
		shoal.sleep(100)
	end
	if reply then
		return reply
	end
	if refused and TRANSIENT[num(refused.code)] then
		self.stats.unavailable = self.stats.unavailable + 1
		fail(shoal.errors.UNAVAIL, "registry: etcd unavailable: " .. err)
	end
	if refused and tostring(refused.error or refused.message):find("lease not found", 1, true) then
		local s = self.spec or {}
		fail(shoal.errors.STALE, string.format("registry: %s/%s was declared dead, register again (its etcd lease "
			.. "expired)", tostring(s.type), tostring(s.id)))
	end
	if refused then
		fail(shoal.errors.INVAL, "registry: etcd refused " .. path .. ": " .. err)
	end
	self.stats.unavailable = self.stats.unavailable + 1
	fail(shoal.errors.UNAVAIL, "registry: etcd unavailable: " .. err)
end

-- Raises the text of an error raised by fail (the code is for try*).
local function raising(fn, ...)
	local ok, a, b = pcall(fn, ...)
	if ok then
		return a, b
	end
	if type(a) == "table" then
		error(a.text, 3)
	end
	error(a, 3)
end

function M.new(opts)
	local prefix = opts.prefix or "/shoal/"
	local self = setmetatable({
		-- as the built-in client's addr: registry.new(r.addr) is another
		-- client of the same registry (lease.serve, object_life, pulse)
		addr = { backend = "etcd", endpoints = opts.endpoints, timeout = opts.timeout, prefix = prefix,
			dead = opts.dead, suspect = opts.suspect },
		etcd = etcd.new { endpoints = opts.endpoints, timeout = opts.timeout or 1000 },
		prefix = prefix,
		dead = opts.dead or 4,
		suspect = opts.suspect or 2,
		watches = {},
		stats = { unavailable = 0 },
		backend = "etcd",
	}, client)
	return self
end

local function ckey(self, type, id)
	return self.prefix .. "c/" .. type .. "/" .. tostring(id)
end

-- Fails STALE: this client's life is no longer the one in etcd.
local function declared_dead(self)
	fail(shoal.errors.STALE, string.format("registry: %s/%s was declared dead, register again", self.spec.type,
		tostring(self.spec.id)))
end

-- cjson decodes every number as a float: whole ones back to integers
-- (a status handle, a port), as the built-in client does.
local integers = require("shoal.registry").integers

-- A component from a kv (value JSON; inc its register revision).
local function from_kv(kv)
	local c = integers(cjson.decode(unb64(kv.value or "")))
	if type(c.status) == "table" then
		integers(c.status)
	end
	c.inc = c.inc or num(kv.mod_revision)
	c.state, c.age_ms = "alive", 0
	c.eaddr, c.eport = c.eaddr or "", c.eport or 0
	c.tags, c.status = c.tags or {}, c.status or {}
	return c
end

local function matches(c, filter)
	if filter.type and c.type ~= filter.type then
		return false
	end
	if filter.tag then
		for _, t in ipairs(c.tags) do
			if t == filter.tag then
				return true
			end
		end
		return false
	end
	return true
end

local function range(self, prefix)
	local reply = call(self, "/v3/kv/range", { key = b64(prefix), range_end = b64(etcd.prefix_end(prefix)) })
	local list = {}
	for _, kv in ipairs(reply.kvs or {}) do
		list[#list + 1] = kv
	end
	table.sort(list, function(a, b) return num(a.create_revision) < num(b.create_revision) end)
	return list, num(reply.header and reply.header.revision)
end

local function value_of(self, inc)
	local s = self.spec
	local v = { type = s.type, id = tostring(s.id), node = s.node, addr = s.addr, port = num(s.port),
		eaddr = s.eaddr or "", eport = num(s.eport), tags = s.tags or {}, status = s.status,
		interval = s.interval or 1000, inc = inc }
	if next(v.tags) == nil then
		v.tags = cjson.empty_array or {}
	end
	return b64(cjson.encode(v))
end

function client:register(spec)
	local copy, status = {}, {}
	for k, v in pairs(spec) do
		copy[k] = v
	end
	for k, v in pairs(spec.status or {}) do
		if RESERVED[k] then
			error("registry: status field '" .. k .. "' is a reserved key", 2)
		end
		status[k] = v
	end
	copy.status = status
	for _, k in ipairs { "type", "id", "node", "addr", "port" } do
		if copy[k] == nil or copy[k] == "" then
			error("registry: register: missing " .. k, 2)
		end
	end
	self.spec = copy
	-- whole seconds, rounded up: never declared dead before interval x dead
	-- (game/object_life.lua's freshness relies on it), at least etcd's 2 s
	local ttl = math.max(2, -((-(copy.interval or 1000) * self.dead) // 1000))
	local before = self.inc
	raising(function()
		local g = call(self, "/v3/lease/grant", { TTL = ttl })
		if self.lease_id then -- the old life ends now
			self.etcd:post("/v3/lease/revoke", { ID = self.lease_id })
		end
		self.lease_id = g.ID
		local r = call(self, "/v3/kv/put", { key = b64(ckey(self, copy.type, copy.id)), value = value_of(self),
			lease = g.ID })
		self.inc = num(r.header.revision)
		self.put_value = value_of(self, self.inc) -- the status the watchers have
	end)
	if before ~= nil and before ~= self.inc then
		if self.keeping then -- the pulse beats for the new life
			registry.tell_pulse(self, "watch")
		end
		registry.new_life(self, before)
	end
	return self.inc
end

client.on_register = registry.on_register

-- This life's heartbeat: true, or fails STALE (its lease expired or its
-- key holds another life).
local function beat(self, status)
	local r = call(self, "/v3/lease/keepalive", { ID = self.lease_id })
	if num(r.result and r.result.TTL) <= 0 then
		declared_dead(self)
	end
	local value = status and next(status) and value_of(self, self.inc)
	if not value or value == self.put_value then
		-- what watchers see of a heartbeat (a keepalive is the leader's
		-- alone): the beat key, so they can tell a silent life (suspect)
		call(self, "/v3/kv/put", { key = b64(self.prefix .. "b/" .. self.spec.type .. "/" .. tostring(self.spec.id)),
			value = b64(tostring(self.inc)), lease = self.lease_id })
		return true
	end
	-- a changed status: a put of the component (a status event; it counts
	-- as a heartbeat for the watchers too)
	local key = b64(ckey(self, self.spec.type, self.spec.id))
	local t = call(self, "/v3/kv/txn", {
		compare = { { key = key, target = "LEASE", result = "EQUAL", lease = self.lease_id } },
		success = { { request_put = { key = key, value = value, lease = self.lease_id } } },
	})
	if not t.succeeded then
		fail(shoal.errors.STALE, "registry: stale incarnation " .. self.inc .. " of " .. self.spec.type .. "/" ..
			self.spec.id)
	end
	self.put_value = value
	return true
end

function client:heartbeat(status)
	local spec = assert(self.spec, "registry: heartbeat before register")
	for k, v in pairs(status or {}) do
		spec.status[k] = v
	end
	local ok, err = pcall(beat, self, status)
	if ok then
		return self.inc
	end
	if type(err) == "table" and err.code == shoal.errors.STALE then
		return self:register(spec)
	end
	error(type(err) == "table" and err.text or err, 2)
end

function client:pulse()
	local ok, err = pcall(beat, self)
	if ok then
		return true
	end
	if type(err) == "table" then
		return false, err.code, err.text
	end
	return false, shoal.errors.RAISED, tostring(err)
end

function client:keepalive(status_fn)
	assert(self.spec, "registry: keepalive before register")
	local token = {}
	self.keeping = token
	registry.tell_pulse(self, "watch")
	shoal.fork(function()
		while true do
			shoal.sleep(self.spec.interval or 1000)
			if self.keeping ~= token then
				return
			end
			local ok, err = pcall(self.heartbeat, self, status_fn and status_fn())
			if not ok then
				shoal.warn(string.format("registry: heartbeat of %s/%s failed: %s", self.spec.type, self.spec.id, err))
			end
		end
	end)
end

function client:silence()
	if self.keeping then
		registry.tell_pulse(self, "forget")
	end
	self.keeping = nil
end

function client:leave()
	if self.keeping then
		registry.tell_pulse(self, "forget")
	end
	self.keeping = nil
	if not self.inc then
		return
	end
	local s = self.spec
	local key = b64(ckey(self, s.type, s.id))
	raising(call, self, "/v3/kv/txn", {
		compare = { { key = key, target = "LEASE", result = "EQUAL", lease = self.lease_id } },
		success = { { request_delete_range = { key = key } },
			{ request_put = { key = b64(self.prefix .. "left/" .. s.type .. "/" .. tostring(s.id)),
				value = b64(tostring(self.inc)) } } },
	})
	self.etcd:post("/v3/lease/revoke", { ID = self.lease_id })
	self.inc, self.lease_id = nil, nil
end

function client:query(filter)
	filter = filter or {}
	local kvs = raising(range, self, self.prefix .. "c/")
	local out = {}
	for _, kv in ipairs(kvs) do
		local c = from_kv(kv)
		if matches(c, filter) then
			out[#out + 1] = c
		end
	end
	return out
end

-- Named leases --------------------------------------------------------

-- epoch: the key's last put (its grant, or a transfer: higher each time;
-- only grants and transfers write a lease key)
local function lease_of(kv)
	if not kv then
		return { epoch = 0 }
	end
	return { epoch = num(kv.mod_revision), holder = from_kv(kv) }
end

local function holds(self, l)
	local h, s = l.holder, self.spec
	return h ~= nil and h.type == s.type and h.id == tostring(s.id) and h.inc == self.inc
end

-- The holder hands the lease to the live life `to` ({type, id, inc}) in
-- one transaction: the lease key still this life's put, this life still
-- bound to its etcd lease, the target's key still bound to the etcd lease
-- seen; the key is put with the target's value and etcd lease (never
-- free in between). As cservice/registry.c: transferred false (nothing
-- changes) from a requester that does not hold it (a free lease too: its
-- lk/ marker says it was granted once), INVAL for a target that is not a
-- live life or is the requester, and "transfer: no lease N" for a name
-- never granted.
local function do_transfer(self, name, key, to)
	if type(to) ~= "table" or to.type == nil or to.id == nil or math.tointeger(tonumber(to.inc)) == nil then
		fail(shoal.errors.INVAL, "registry: transfer: missing to_type, to_id or to_inc")
	end
	local me = b64(ckey(self, self.spec.type, self.spec.id))
	local tkey = b64(ckey(self, to.type, to.id))
	local t = call(self, "/v3/kv/txn", { success = { { request_range = { key = key } },
		{ request_range = { key = me } }, { request_range = { key = tkey } },
		{ request_range = { key = b64(self.prefix .. "lk/" .. name) } } } })
	local function first(i)
		local kvs = t.responses[i].response_range.kvs
		return kvs and kvs[1]
	end
	local lkv, mkv, tkv, known = first(1), first(2), first(3), first(4)
	if not mkv or mkv.lease ~= self.lease_id then
		declared_dead(self)
	end
	if not lkv and not known then
		fail(shoal.errors.INVAL, "registry: transfer: no lease " .. name)
	end
	local target = tkv and from_kv(tkv)
	if not target or target.inc ~= math.tointeger(tonumber(to.inc)) then
		fail(shoal.errors.INVAL, string.format("registry: transfer: %s/%s inc %s is not a live component",
			tostring(to.type), tostring(to.id), tostring(to.inc)))
	end
	if target.type == self.spec.type and target.id == tostring(self.spec.id) then
		fail(shoal.errors.INVAL, string.format("registry: transfer: %s/%s already is the requester", tostring(to.type),
			tostring(to.id)))
	end
	local l = lease_of(lkv)
	l.name, l.transferred = name, false
	if not holds(self, l) then
		return l
	end
	local value = cjson.decode(unb64(tkv.value))
	value.inc = target.inc
	local r = call(self, "/v3/kv/txn", {
		compare = { { key = key, target = "MOD", result = "EQUAL", mod_revision = lkv.mod_revision },
			{ key = me, target = "LEASE", result = "EQUAL", lease = self.lease_id },
			{ key = tkey, target = "LEASE", result = "EQUAL", lease = tkv.lease } },
		success = { { request_put = { key = key, value = b64(cjson.encode(value)), lease = tkv.lease } } },
	})
	if r.succeeded then
		l.epoch, l.holder, l.transferred = num(r.header.revision), target, true
		shoal.log(string.format("registry: lease %s moved from %s/%s inc %d to %s/%s inc %d (epoch %d)", name,
			self.spec.type, tostring(self.spec.id), self.inc, target.type, target.id, target.inc, l.epoch))
		return l
	end
	-- something moved meanwhile (the lease, either life): as it is now
	local now = (call(self, "/v3/kv/range", { key = key }).kvs or {})[1]
	l = lease_of(now)
	l.name, l.transferred = name, false
	return l
end

local function do_lease(self, verb, name, to)
	assert(self.spec and self.inc, "registry: " .. verb .. " before register")
	local key = b64(self.prefix .. "l/" .. name)
	if verb == "lease" then
		-- granted only if free and this life is still this client's: its
		-- component key is bound to its etcd lease
		local me = b64(ckey(self, self.spec.type, self.spec.id))
		local t = call(self, "/v3/kv/txn", {
			compare = { { key = key, target = "CREATE", result = "EQUAL", create_revision = "0" },
				{ key = me, target = "LEASE", result = "EQUAL", lease = self.lease_id } },
			success = { { request_put = { key = key, value = value_of(self, self.inc), lease = self.lease_id } },
				{ request_put = { key = b64(self.prefix .. "lk/" .. name), value = b64("1") } } },
			failure = { { request_range = { key = key } }, { request_range = { key = me } } },
		})
		local kv
		if t.succeeded then
			kv = call(self, "/v3/kv/range", { key = key }).kvs[1]
		else
			local mine = t.responses[2].response_range.kvs and t.responses[2].response_range.kvs[1]
			if not mine or mine.lease ~= self.lease_id then
				declared_dead(self)
			end
			kv = t.responses[1].response_range.kvs and t.responses[1].response_range.kvs[1]
		end
		local l = lease_of(kv)
		l.name, l.granted = name, holds(self, l)
		return l
	elseif verb == "transfer" then
		return do_transfer(self, name, key, to)
	elseif verb == "release" then
		local kv = (call(self, "/v3/kv/range", { key = key }).kvs or {})[1]
		local l = lease_of(kv)
		l.name, l.released = name, false
		if holds(self, l) then
			local t = call(self, "/v3/kv/txn", {
				compare = { { key = key, target = "CREATE", result = "EQUAL", create_revision = kv.create_revision } },
				success = { { request_delete_range = { key = key } } },
			})
			l.released, l.holder = t.succeeded, t.succeeded and nil or l.holder
		end
		return l
	end
	fail(shoal.errors.INVAL, "registry: " .. verb .. " is not supported by the etcd backend")
end

function client:lease(name)
	return raising(do_lease, self, "lease", name)
end

function client:release(name)
	return raising(do_lease, self, "release", name)
end

function client:trylease(verb, name, _, to)
	local ok, l = pcall(do_lease, self, verb, name, to)
	if ok then
		return l
	end
	if type(l) == "table" then
		return nil, l.code, l.text
	end
	return nil, shoal.errors.RAISED, tostring(l)
end

function client:transfer(name, to)
	return raising(do_lease, self, "transfer", name, to)
end

-- Held leases from their l/ keys, then the free ones (an lk/ marker
-- without a key; epoch 0: the key that had it is gone), as the built-in
-- registry lists them (holder nil).
function client:leases(name)
	local kvs = raising(range, self, self.prefix .. "l/" .. (name or ""))
	local known = raising(range, self, self.prefix .. "lk/" .. (name or ""))
	local out, held = {}, {}
	for _, kv in ipairs(kvs) do
		local l = lease_of(kv)
		l.name = unb64(kv.key):sub(#self.prefix + 3)
		if name == nil or l.name == name then
			out[#out + 1] = l
			held[l.name] = true
		end
	end
	for _, kv in ipairs(known) do
		local n = unb64(kv.key):sub(#self.prefix + 4)
		if (name == nil or n == name) and not held[n] then
			out[#out + 1] = { name = n, epoch = 0 }
		end
	end
	return out
end

-- Watches -------------------------------------------------------------

local function filter_text(filter)
	if filter.lease then
		return "lease=" .. filter.lease
	end
	local parts = {}
	if filter.type then
		parts[#parts + 1] = "type=" .. filter.type
	end
	if filter.tag then
		parts[#parts + 1] = "tag=" .. filter.tag
	end
	return table.concat(parts, " ")
end

-- Suspect: a watcher's own view, as the built-in registry's (a
-- keepalive reaches only the leader). w.live holds the matching lives
-- ("T/I" -> {c = the component, last = when its last heartbeat, beat
-- key or status put, reached us, suspect}); one that misses `suspect`
-- intervals is sent `suspect`, and `status` (state alive) when its
-- heartbeats come again. Always before its `dead`.
-- Numbers event e of watch w and hands it to the watcher.
local function send(w, e)
	w.seq = w.seq + 1
	e.seq, e.watch = w.seq, w.text
	w.fn(e)
end

-- Sends a copy of the tracked component c as `event` in `state`.
local function emit(w, c, event, state)
	local e = {}
	for k, v in pairs(c) do
		e[k] = v
	end
	e.event, e.state, e.age_ms = event, state, 0
	send(w, e)
end

local function track(w, c)
	w.live[c.type .. "/" .. c.id] = { c = c, last = shoal.now() }
end

local SUSPECT_TICK_MS = 50

local function watch_silence(self, w)
	shoal.fork(function()
		while not w.stopped do
			shoal.sleep(SUSPECT_TICK_MS)
			local now = shoal.now()
			for _, rec in pairs(w.live) do
				if not rec.suspect and now - rec.last > (rec.c.interval or 1000) * self.suspect then
					rec.suspect = true
					emit(w, rec.c, "suspect", "suspect")
				end
			end
		end
	end)
end

-- The events of one watch response, in order, to w.fn.
local function deliver(self, w, result)
	local left = {}
	for _, ev in ipairs(result.events or {}) do
		local key = unb64(ev.kv.key)
		if ev.type ~= "DELETE" and key:sub(#self.prefix + 1, #self.prefix + 5) == "left/" then
			left[key:sub(#self.prefix + 6) .. "@" .. num(ev.kv.mod_revision)] = true
		end
	end
	for _, ev in ipairs(result.events or {}) do
		local key = unb64(ev.kv.key)
		local rest = key:sub(#self.prefix + 1)
		local e
		if w.filter.lease then
			if rest == "l/" .. w.filter.lease then
				if ev.type == "DELETE" then
					e = { epoch = num(ev.prev_kv and ev.prev_kv.mod_revision), name = w.filter.lease }
				else
					e = lease_of(ev.kv)
					e.name = w.filter.lease
				end
				e.event = "lease"
			end
		elseif rest:sub(1, 2) == "c/" then
			if ev.type == "DELETE" then
				if ev.prev_kv then
					e = from_kv(ev.prev_kv)
					e.event = left[rest:sub(3) .. "@" .. num(ev.kv.mod_revision)] and "leave" or "dead"
					if e.event == "dead" then
						e.state = "dead"
					end
				end
			else
				e = from_kv(ev.kv)
				e.event = cjson.decode(unb64(ev.kv.value)).inc and "status" or "join"
			end
			if e and not matches(e, w.filter) then
				e = nil
			end
			if e then
				local life = rest:sub(3)
				local rec = w.live[life]
				if e.event == "dead" and rec and not rec.suspect then
					emit(w, rec.c, "suspect", "suspect")
				end
				if ev.type == "DELETE" then
					w.live[life] = nil
				else
					track(w, e)
				end
			end
		elseif rest:sub(1, 2) == "b/" and ev.type ~= "DELETE" then
			local rec = w.live[rest:sub(3)]
			if rec and num(unb64(ev.kv.value or "")) == rec.c.inc then
				rec.last = shoal.now()
				if rec.suspect then -- alive again
					rec.suspect = false
					emit(w, rec.c, "status", "alive")
				end
			end
		end
		if e then
			send(w, e)
		end
	end
end

local function start_stream(self, w)
	-- a lease's watch: its one key (not every heartbeat's beat key)
	local range = w.filter.lease and { key = b64(self.prefix .. "l/" .. w.filter.lease) }
		or { key = b64(self.prefix), range_end = b64(etcd.prefix_end(self.prefix)) }
	range.start_revision, range.prev_kv = tostring(w.rev + 1), true
	w.stream = self.etcd:watch(range, function(result)
		deliver(self, w, result)
		-- resume after the last event seen (not the header's revision: a
		-- catching-up watcher may still owe events below it)
		for _, ev in ipairs(result.events or {}) do
			w.rev = math.max(w.rev, num(ev.kv.mod_revision))
		end
	end, function(err)
		if w.stopped then
			return
		end
		shoal.warn("registry: etcd watch '" .. w.text .. "' ended (" .. tostring(err) .. "): reconnecting")
		shoal.sleep(200)
		if not w.stopped then
			start_stream(self, w)
		end
	end)
end

function client:watch(filter, fn)
	filter = filter or {}
	local text = filter_text(filter)
	if self.watches[text] then
		self.watches[text].stopped = true
		self.watches[text].stream.close()
	end
	local list, rev
	if filter.lease then
		local kvs
		kvs, rev = raising(range, self, self.prefix .. "l/" .. filter.lease)
		local l = lease_of(kvs[1] and unb64(kvs[1].key) == self.prefix .. "l/" .. filter.lease and kvs[1] or nil)
		l.name = filter.lease
		list = { l }
	else
		local kvs
		kvs, rev = raising(range, self, self.prefix .. "c/")
		list = {}
		for _, kv in ipairs(kvs) do
			local c = from_kv(kv)
			if matches(c, filter) then
				list[#list + 1] = c
			end
		end
	end
	local w = { filter = filter, text = text, fn = fn, seq = 0, rev = rev, live = {} }
	self.watches[text] = w
	if not filter.lease then
		for _, c in ipairs(list) do
			track(w, c)
		end
		watch_silence(self, w)
	end
	start_stream(self, w)
	return list
end

function client:unwatch(filter)
	local w = self.watches[filter_text(filter or {})]
	if w then
		w.stopped = true
		w.stream.close()
		self.watches[filter_text(filter or {})] = nil
	end
end

return M
