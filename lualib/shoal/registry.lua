-- shoal/registry.lua - the client of the heartbeat registry
-- (cservice/registry.c; protocol and states in docs/registry.md).
--
--   local registry = require "shoal.registry"
--   local r = registry.new(".registry")  -- handle or name of the registry service
--   local inc = r:register{type = "game", id = "g1", node = "n1", addr = "10.0.0.5", port = 7000,
--                          eaddr = "1.2.3.4", eport = 7000, tags = {"eu", "pvp"},
--                          interval = 1000, status = {load = 0}}
--   r:heartbeat{load = 0.5}  -- status changes (or nil); returns the inc. When the registry
--                            -- forgot us, declared us dead or has a newer life of our
--                            -- type/id, registers again (last status kept): the new inc
--   r:keepalive(fn)          -- forks a loop: a heartbeat every `interval` ms (of the
--                            -- register spec, default 1000) with status fn() (fn optional)
--   r:on_register(fn)        -- fn(old_inc, new_inc) after each register that replaced
--                            -- an earlier life of this client (e.g. by heartbeat)
--   r:leave()                -- also stops the keepalive loop
--   r:silence()              -- stops every heartbeat without leaving (declared dead in time)
--   r:pulse(ms)              -- a liveness-only heartbeat, never registering again:
--                            -- true | false, code, text (service/pulse.lua)
--
-- keepalive also hands the life to the node's pulse service, which sends
-- liveness heartbeats for it as long as the service makes progress: busy
-- is not dead (a backlog delays the service's own heartbeats), stuck is.
--   local list = r:watch({type = "game"}, function(event) ... end)  -- or {tag = "eu"}, or {}
--                            -- the matching components now; one callback per filter
--   r:unwatch{type = "game"}
--   local list = r:query{type = "game", tag = "eu", healthy = true}
--
-- Leases (the active/standby rule; shoal/lease.lua builds on these):
--   local l = r:lease("baseappmgr")   -- ask for it as this registered life:
--                            -- {granted = bool, name, epoch, holder = component | nil}
--   local l = r:release("baseappmgr") -- {released = bool, name, epoch, holder}
--   local l = r:transfer("obj.guild.7", to) -- hand it to another live life in one step
--                            -- (to: a component {type, id, inc}): {transferred = bool, ...}
--   r:trylease(verb, name, ms [, to])  -- lease/release/transfer: the lease | nil, code, text
--   local list = r:leases("baseappmgr" [, ms]) -- {lease} (or every lease without a name);
--                            -- ms: a call timeout of its own
--   r:watch({lease = "baseappmgr"}, function(l) ... end) -- l.event == "lease" on every
--                            -- grant and every free; the list is {the lease now}
--
-- A component is a table: type, id, inc, node, addr, port, eaddr, eport,
-- tags = {...}, state ("alive", "suspect" or "dead"), age_ms (since its
-- last heartbeat), status = {...}. An event is a component plus event
-- ("join", "status", "suspect", "dead" or "leave") and seq (1, 2, 3, ...
-- for each watch, so a gap would show).
--
-- Every request is a shoal.call, so none waits past the call timeout, and
-- raises on an error (the text says why, starting with "registry: ").
-- Values must be non-empty and contain no spaces.
--
-- Events arrive as one-way "text" messages. The first watch installs a
-- dispatcher for the "text" protocol (shoal.dispatch("text", ...)). A
-- service that needs "text" messages for something else sets its own
-- dispatcher after its first watch and passes them on to
-- registry.dispatch(source, msg), which returns false for messages that are
-- not registry events. Callbacks run in the order of the events; a callback
-- that waits (call, sleep) lets the next ones start meanwhile.

local shoal = require "shoal"
local cjson = require "cjson"

local registry = {}
local client = {}
client.__index = client

-- Keys of register that are not status fields (nor may status use them).
local RESERVED = { type = true, id = true, inc = true, node = true, addr = true, port = true, eaddr = true,
	eport = true, tags = true, interval = true }

local watches = {} -- registry handle -> watch filter text -> callback
local dispatching = false -- the "text" dispatcher is installed

-- cjson decodes every number as a float: make whole ones integers again,
-- so an inc or a port prints as 3, not 3.0.
local function integers(t)
	for k, v in pairs(t) do
		if math.type(v) == "float" then
			t[k] = math.tointeger(v) or v
		end
	end
	return t
end

registry.integers = integers -- for the etcd client (shoal/registry_etcd.lua)

local function component(c)
	integers(c)
	integers(c.status)
	return c
end

-- A lease (reply, list entry or event): holder nil when free.
local function lease_value(l)
	integers(l)
	if l.holder == cjson.null then
		l.holder = nil
	end
	if l.holder then
		component(l.holder)
	end
	return l
end

-- An event or a watch list entry: a component, or a lease.
local function entry(e)
	if e.epoch ~= nil and e.type == nil then
		return lease_value(e)
	end
	return component(e)
end

local function pair(k, v)
	if math.type(v) == "float" then
		v = math.tointeger(v) or v
	end
	if type(v) == "number" or type(v) == "boolean" then
		v = tostring(v)
	end
	if type(v) ~= "string" or v == "" or v:find("%s") then
		error(string.format("registry: %s=%s: a value must be a non-empty string or number without spaces", k,
			tostring(v)), 3)
	end
	return k .. "=" .. v
end

-- Appends the status fields to the request, in key order.
local function add_status(parts, status)
	local keys = {}
	for k in pairs(status or {}) do
		if RESERVED[k] then
			error("registry: status field '" .. k .. "' is a reserved key", 3)
		end
		keys[#keys + 1] = k
	end
	table.sort(keys)
	for _, k in ipairs(keys) do
		parts[#parts + 1] = pair(k, status[k])
	end
	return parts
end

-- The watch filter as the registry writes it in events ("type=T tag=X").
local function filter_text(filter)
	if filter.lease then
		if filter.type or filter.tag then
			error("registry: a lease watch takes no type or tag", 3)
		end
		return pair("lease", filter.lease)
	end
	local parts = {}
	if filter.type then
		parts[#parts + 1] = pair("type", filter.type)
	end
	if filter.tag then
		parts[#parts + 1] = pair("tag", filter.tag)
	end
	return table.concat(parts, " ")
end

-- addr: the registry service (handle or name), or a table {backend =
-- "etcd", endpoints, timeout, prefix, dead, suspect} for the etcd backend
-- (shoal/registry_etcd.lua). A name while the config says
-- registry_backend = "etcd" is the etcd backend of the config's keys.
function registry.new(addr)
	if type(addr) == "table" and addr.backend == "etcd" then
		return require("shoal.registry_etcd").new(addr)
	end
	local backend = type(addr) == "string" and shoal.config("registry_backend")
	if backend and backend ~= "etcd" and backend ~= "builtin" then
		error("registry: registry_backend = '" .. tostring(backend) .. "': builtin or etcd", 2)
	end
	if backend == "etcd" then
		return require("shoal.registry_etcd").new({ endpoints = shoal.config("registry_etcd_endpoints"),
			timeout = shoal.config("registry_etcd_timeout_ms"), prefix = shoal.config("registry_etcd_prefix"),
			dead = shoal.config("registry_dead"), suspect = shoal.config("registry_suspect") })
	end
	return setmetatable({ addr = addr }, client)
end

-- The latency of this service's answered registry requests, by verb
-- (docs/operations.md), made on the first request.
local latency
local function observe(verb, t0)
	if latency == nil then
		latency = require("shoal.metrics").histogram("shoal_registry_client_duration_seconds",
			"Registry requests made by this node's services, from the send to the answer (ok or refused), "
			.. "by verb, seconds.", { "verb" },
			{ 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 })
	end
	latency:observe((shoal.hpc() - t0) / 1e9, verb)
end

-- Sends one request line; returns the decoded JSON reply. ms: the call's
-- timeout (default: the config's call_timeout).
function client:request(parts, ms)
	local line = table.concat(parts, " ")
	local t0 = shoal.hpc()
	local reply
	if ms then
		reply = shoal.calltimeout(ms, self.addr, "text", line)
	else
		reply = shoal.call(self.addr, "text", line)
	end
	observe(parts[1], t0)
	return cjson.decode(reply)
end

-- The same as a trycall: true, reply | false, code, text.
local function try_request(self, parts, ms)
	local line = table.concat(parts, " ")
	local ok, reply_or_code, text
	local t0 = shoal.hpc()
	if ms then
		ok, reply_or_code, text = shoal.trycalltimeout(ms, self.addr, "text", line)
	else
		ok, reply_or_code, text = shoal.trycall(self.addr, "text", line)
	end
	if ok or reply_or_code == shoal.errors.INVAL then -- answered (a refusal is an answer too)
		observe(parts[1], t0)
	end
	if not ok then
		return false, reply_or_code, text
	end
	return true, cjson.decode(reply_or_code)
end

-- Tells the node's pulse service (started on first use) about this life,
-- so a busy service is not declared dead for heartbeats stuck behind its
-- backlog. Without a pulse service (it could not start) the keepalive
-- loop alone keeps the life.
-- Shared with the etcd backend's client, which also passes its etcd lease
-- (self.lease_id; nil here): pulse's client beats for that life.
local pulse_handle = nil
function registry.tell_pulse(self, cmd)
	if pulse_handle == nil then
		local ok, h = pcall(shoal.uniqueservice, "pulse")
		if not ok then
			shoal.warn("registry: no pulse service (" .. tostring(h) .. "): heartbeats from this service only")
			pulse_handle = false
		else
			pulse_handle = h
		end
	end
	if not pulse_handle then
		return
	end
	local spec = self.spec
	if cmd == "watch" then
		shoal.send(pulse_handle, "lua", "watch", shoal.self(), self.addr, spec.type, spec.id, self.inc,
			spec.interval or 1000, self.lease_id)
	else
		shoal.send(pulse_handle, "lua", "forget", shoal.self(), spec.type, spec.id)
	end
end
local tell_pulse = registry.tell_pulse

function client:register(spec)
	-- Remembered (copied) for heartbeats and for registering again.
	local copy, status = {}, {}
	for k, v in pairs(spec) do
		copy[k] = v
	end
	for k, v in pairs(spec.status or {}) do
		status[k] = v
	end
	copy.status = status
	self.spec = copy
	local parts = { "register", pair("type", spec.type), pair("id", spec.id), pair("node", spec.node),
		pair("addr", spec.addr), pair("port", spec.port) }
	for _, k in ipairs({ "eaddr", "eport", "interval" }) do
		if spec[k] ~= nil then
			parts[#parts + 1] = pair(k, spec[k])
		end
	end
	if spec.tags and #spec.tags > 0 then
		parts[#parts + 1] = pair("tags", table.concat(spec.tags, ","))
	end
	local before = self.inc
	self.inc = math.tointeger(self:request(add_status(parts, status)).inc)
	if before ~= nil and before ~= self.inc then
		if self.keeping then -- the pulse beats for the new life
			tell_pulse(self, "watch")
		end
		registry.new_life(self, before)
	end
	return self.inc
end

-- fn(old_inc, new_inc) after each register that began a new life. Shared
-- with the etcd backend's client (shoal/registry_etcd.lua).
function client:on_register(fn)
	self.on_new_life = self.on_new_life or {}
	table.insert(self.on_new_life, fn)
end
registry.on_register = client.on_register

-- Tells the on_register callbacks of client self that its life moved on from before.
function registry.new_life(self, before)
	for _, fn in ipairs(self.on_new_life or {}) do
		fn(before, self.inc)
	end
end

-- A heartbeat request of this life, with status fields (or none).
local function heartbeat_parts(self, status)
	local spec = self.spec
	return add_status({ "heartbeat", pair("type", spec.type), pair("id", spec.id), pair("inc", self.inc) }, status)
end

function client:heartbeat(status)
	local spec = assert(self.spec, "registry: heartbeat before register")
	for k, v in pairs(status or {}) do
		spec.status[k] = v
	end
	local ok, code, text = try_request(self, heartbeat_parts(self, status))
	if ok then
		return self.inc
	end
	if code == shoal.errors.STALE then -- the registry forgot this life (restarted, or declared it dead)
		return self:register(spec)
	end
	error(text, 2)
end

-- A liveness-only heartbeat (no status) that never registers again, the
-- node's pulse service sends it (service/pulse.lua): true, or false,
-- code, text (STALE: the owner's keepalive registers again). ms: the
-- call's timeout.
function client:pulse(ms)
	local ok, code, text = try_request(self, heartbeat_parts(self), ms)
	if ok then
		return true
	end
	return false, code, text
end

function client:keepalive(status_fn)
	assert(self.spec, "registry: keepalive before register")
	local token = {}
	self.keeping = token
	tell_pulse(self, "watch")
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

-- Stops every heartbeat of this life (the keepalive loop and the pulse)
-- without leaving: the registry's failure detector ends it. A frozen
-- holder in the tests; a service that wants to be declared dead.
function client:silence()
	if self.keeping then
		tell_pulse(self, "forget")
	end
	self.keeping = nil
end

function client:leave()
	if self.keeping then
		tell_pulse(self, "forget")
	end
	self.keeping = nil
	if self.inc then
		self:request({ "leave", pair("type", self.spec.type), pair("id", self.spec.id), pair("inc", self.inc) })
		self.inc = nil
	end
end

-- Routes one "text" message; false when it is not a registry event.
function registry.dispatch(source, msg)
	local byfilter = watches[source]
	if byfilter == nil or msg:sub(1, 7) ~= '{"seq":' then
		return false
	end
	local ok, event = pcall(cjson.decode, msg)
	if not ok or type(event) ~= "table" or event.watch == nil then
		return false
	end
	local fn = byfilter[event.watch]
	if fn then
		fn(entry(event))
	end
	return true
end

function client:handle()
	local h = math.type(self.addr) == "integer" and self.addr or shoal.query(self.addr)
	return h or error("registry: no service " .. tostring(self.addr), 3)
end

function client:watch(filter, fn)
	filter = filter or {}
	if not dispatching then
		dispatching = true
		shoal.dispatch("text", function(_, source, msg)
			if not registry.dispatch(source, msg) then
				shoal.warn(string.format("registry: text message from %s ignored: %s", shoal.address(source),
					msg:sub(1, 80)))
			end
		end)
	end
	local h, text = self:handle(), filter_text(filter)
	watches[h] = watches[h] or {}
	local before = watches[h][text]
	watches[h][text] = fn -- before the request: the first events may follow the reply at once
	local ok, list = pcall(self.request, self, { "watch", text ~= "" and text or nil })
	if not ok then
		watches[h][text] = before
		error(list, 2)
	end
	for _, c in ipairs(list) do
		entry(c)
	end
	return list
end

function client:unwatch(filter)
	local text = filter_text(filter or {})
	local byfilter = watches[self:handle()]
	if byfilter then
		byfilter[text] = nil
	end
	self:request({ "unwatch", text ~= "" and text or nil })
end

function client:query(filter)
	filter = filter or {}
	local text = filter_text(filter)
	local parts = { "query", text ~= "" and text or nil }
	if filter.healthy then
		parts[#parts + 1] = "healthy=1"
	end
	local list = self:request(parts)
	for _, c in ipairs(list) do
		component(c)
	end
	return list
end

-- The request line of lease and release: name plus this client's life.
local function life_request(self, verb, name)
	local spec = assert(self.spec, "registry: " .. verb .. " before register")
	return { verb, pair("name", name), pair("type", spec.type), pair("id", spec.id), pair("inc", self.inc) }
end

function client:lease(name)
	return lease_value(self:request(life_request(self, "lease", name)))
end

function client:release(name)
	return lease_value(self:request(life_request(self, "release", name)))
end

-- lease, release or transfer (to: a component) without raising, with
-- a call timeout of ms: the lease, or nil, code, text (code one of
-- shoal.errors: STALE this life ended, FULL, INVAL, TIMEOUT, ...).
function client:trylease(verb, name, ms, to)
	local parts = life_request(self, verb, name)
	if to then
		parts[#parts + 1] = pair("to_type", to.type)
		parts[#parts + 1] = pair("to_id", to.id)
		parts[#parts + 1] = pair("to_inc", to.inc)
	end
	local ok, reply, text = shoal.trycalltimeout(ms, self.addr, "text", table.concat(parts, " "))
	if not ok then
		return nil, reply, text
	end
	return lease_value(cjson.decode(reply))
end

function client:transfer(name, to)
	local parts = life_request(self, "transfer", name)
	parts[#parts + 1] = pair("to_type", to.type)
	parts[#parts + 1] = pair("to_id", to.id)
	parts[#parts + 1] = pair("to_inc", to.inc)
	return lease_value(self:request(parts))
end

function client:leases(name, ms)
	local list = self:request({ "leases", name and pair("name", name) or nil }, ms)
	for _, l in ipairs(list) do
		lease_value(l)
	end
	return list
end

return registry
