-- shoal/lease.lua - active/standby pairs through a registry lease
-- (docs/registry.md, "Leases").
--
--   local registry = require "shoal.registry"
--   local lease = require "shoal.lease"
--   local r = registry.new(addr)
--   r:register{type = "baseappmgr", id = "2", ...}  -- the life that holds the lease
--   r:keepalive()
--   local l = lease.hold(r, "baseappmgr", {
--   	active = function(epoch) ... end,           -- this life holds the lease now
--   	standby = function(holder, epoch) ... end,  -- another life holds it (a component),
--   	                                           -- or nobody (nil) and ours was refused
--   })
--   l.active, l.epoch, l.holder                     -- the state last learnt
--   l:stop()                                        -- gives the lease back if held
--
-- The two halves of an active/standby pair of services (baseappmgr,
-- cellappmgr, dscontroller) on top of it:
--
--   -- in the service: register {type = name, id = id, status handle = this
--   -- service, addr:port = this node's harbor}, keep it alive, hold the
--   -- lease, leave the registry on a graceful exit (the lease goes at once)
--   local l = lease.serve(name, { id = "2", registry = r_or_addr, active = fn, standby = fn })
--   -- a command of the standby answers: return nil, lease.NOT_ACTIVE, why
--
--   -- in a caller: the holder's handle from the lease; a call that gets
--   -- NOT_ACTIVE or cannot reach it looks the holder up again, once
--   local c = lease.client(name, { registry = r_or_addr, timeout = ms })
--   local ... = c:call("pick", account)  -- its answers, or nil, lease.NO_ACTIVE, why
--
-- The one election rule: the registry gives a free lease to the first live
-- component that asks, and frees it only when the holder's life ends
-- (declared dead by the registry's failure detector, left, or registered
-- again). This library only asks and listens; it never decides that
-- anything is dead. It asks at once, again on every "free" event of the
-- lease, and once an interval (the registration's `interval`, default
-- 1000 ms) it renews its watch and checks the lease: a lost event, a
-- watch the registry dropped, or a life re-registered by keepalive is
-- seen within an interval.
--
-- `epoch` grows by one each time the lease goes to another life: two
-- actives can never share an epoch, so a reply or a write stamped with the
-- epoch can be fenced (refuse what carries an older one).
--
-- Callbacks run in the order of the changes, each in its own turn (a
-- callback that waits lets other messages in; keep them short). `hold`
-- returns after the first answer, so an active caller knows it before it
-- serves anything.
--
-- Known limit: a holder that is frozen and wakes up after the registry
-- declared it dead still believes it is active until its first heartbeat
-- (refused: it registers again, and that ends its lease here at once) or
-- its next check, whichever comes first (one interval at most): fence on
-- the epoch where it matters.
local shoal = require "shoal"

local lease = {}

lease.NOT_ACTIVE = "not_active" -- a standby's answer (nil, NOT_ACTIVE, why)
lease.NO_ACTIVE = "no_active" -- lease.client: no active holder can be reached now

local holder_mt = {}
holder_mt.__index = holder_mt

-- Whether component c is the current life of r's registration.
local function is_me(r, c)
	return c ~= nil and r.inc ~= nil and c.type == r.spec.type and tostring(c.id) == tostring(r.spec.id)
		and c.inc == r.inc
end

local function key_of(c)
	return c and string.format("%s/%s/%s", c.type, tostring(c.id), tostring(c.inc)) or ""
end

-- Learns the lease's state l (a reply, a watch entry or an event) and
-- calls the handler its change calls for.
function holder_mt:learn(l)
	if not self.running then
		return
	end
	local mine = is_me(self.r, l.holder)
	local was_active, was_key, was_epoch = self.active, key_of(self.holder), self.epoch
	self.epoch, self.holder, self.active = l.epoch, l.holder, mine
	if mine then
		if not was_active or was_epoch ~= l.epoch then
			shoal.log(string.format("lease %s: active (epoch %d)", self.name, l.epoch))
			self.on.active(l.epoch)
		end
		return
	end
	if was_active then
		shoal.warn(string.format("lease %s: no longer active (epoch %d, held by %s)", self.name, l.epoch,
			l.holder and key_of(l.holder) or "nobody"))
	end
	if l.holder == nil then -- free: ask for it (the answer is learnt in turn)
		if was_active and self.on.standby then
			self.on.standby(nil, l.epoch)
		end
		self:ask()
		return
	end
	if (was_active or was_key ~= key_of(l.holder) or self.first) and self.on.standby then
		self.first = false
		self.on.standby(l.holder, l.epoch)
	end
end

-- This life ended (registered again: the registry freed its leases):
-- not active any more, at once, before anything else is answered.
function holder_mt:lost(why)
	if self.active then
		self.active = false
		shoal.warn(string.format("lease %s: no longer active (epoch %d): %s", self.name, self.epoch,
			why or "this life ended"))
		if self.on.standby then
			self.on.standby(nil, self.epoch)
		end
	end
end

-- Asks for the lease; an error (registry unreachable, our life refused as
-- stale or dead) leaves the state as it is until the next check.
function holder_mt:ask()
	if not self.running or self.asking then
		return
	end
	self.asking = true
	local ok, l = pcall(self.r.lease, self.r, self.name)
	self.asking = false
	if ok then
		self:learn(l)
	else
		shoal.warn(string.format("lease %s: request failed: %s", self.name, tostring(l)))
	end
end

-- Renews the watch (the registry drops a watcher it could not reach) and
-- learns the lease from its answer.
function holder_mt:check()
	local ok, list = pcall(self.r.watch, self.r, { lease = self.name }, function(l)
		self:learn(l)
	end)
	if ok and list[1] then
		self:learn(list[1])
	elseif not ok then
		shoal.warn(string.format("lease %s: watch failed: %s", self.name, tostring(list)))
	end
end

function holder_mt:stop()
	if not self.running then
		return
	end
	self.running = false
	pcall(self.r.unwatch, self.r, { lease = self.name })
	if self.active and self.r.inc then
		self.active = false
		pcall(self.r.release, self.r, self.name)
	end
end

function lease.hold(r, name, handlers)
	assert(r.spec and r.inc, "lease: hold before register")
	assert(type(handlers) == "table" and type(handlers.active) == "function", "lease: handlers.active is required")
	local self = setmetatable({ r = r, name = name, on = handlers, running = true, active = false, epoch = 0,
		first = true }, holder_mt)
	self:check() -- free: asks at once (learn), so the first answer is known on return
	-- A new life (keepalive registered again after the registry declared
	-- this one dead, e.g. after a freeze) holds nothing: say so before
	-- the next message is served, then learn who holds the lease.
	r:on_register(function()
		if self.running then
			self:lost()
			self:check()
		end
	end)
	local interval = r.spec.interval or 1000
	shoal.fork(function()
		while self.running do
			shoal.sleep(interval)
			if self.running then
				self:check()
			end
		end
	end)
	return self
end

-- The registry client of opts.registry: a client, a handle or name, an
-- etcd backend's options (a client's addr), or (nil) the cluster's.
local function registry_of(addr)
	if addr == nil then
		return require("cluster").registry()
	elseif type(addr) == "table" and addr.register then
		return addr
	end
	return require("shoal.registry").new(addr)
end

-- Where this node can be probed: its harbor's host and port (config
-- `harbor`, else this node's entry in `cluster`), or 127.0.0.1 and port 1
-- outside a cluster (a single-node test: the registry's probes are off
-- there).
function lease.node_address()
	local listen = shoal.config("harbor")
	if listen ~= "" then
		local host, port = listen:match("^(.*):(%d+)$")
		return host, tonumber(port)
	end
	local node = shoal.config("node")
	for n, host, port in shoal.config("cluster"):gmatch("(%d+)@([^,%s]+):(%d+)") do
		if tonumber(n) == node then
			return host, tonumber(port)
		end
	end
	return "127.0.0.1", 1
end

function lease.serve(name, opts)
	local r = registry_of(opts.registry)
	local me = require("shoal.registry").new(r.addr) -- a life of its own, not the caller's
	local host, port = lease.node_address()
	me:register { type = opts.type or name, id = opts.id or tostring(shoal.config("node")), node = shoal.config("node"),
		addr = host, port = port, interval = opts.interval or shoal.config("heartbeat_ms"),
		status = { handle = shoal.self() } }
	me:keepalive()
	local held = lease.hold(me, name, opts)
	shoal.on_exit(function() -- a graceful stop hands the lease over at once
		-- Not active from here on, before the registry frees the lease: the
		-- next holder may serve while this one is still shutting down, and
		-- two actives must never answer at the same time.
		held:lost("stopping")
		held.running = false
		pcall(me.leave, me)
	end)
	return held
end

local client_mt = {}
client_mt.__index = client_mt

function lease.client(name, opts)
	opts = opts or {}
	return setmetatable({ name = name, r = registry_of(opts.registry),
		timeout = opts.timeout or shoal.config("call_timeout"), handle = nil }, client_mt)
end

-- The holder's handle (its status field `handle`), or nil, why.
function client_mt:find()
	local ok, list = pcall(self.r.leases, self.r, self.name, self.timeout)
	if not ok then
		return nil, "the registry did not answer: " .. tostring(list)
	end
	local l = list[1]
	if l == nil or l.holder == nil then
		return nil, string.format("nobody holds the lease %s (epoch %d)", self.name, l and l.epoch or 0)
	end
	local h = l.holder.status and l.holder.status.handle
	if math.type(h) ~= "integer" then
		return nil, string.format("the holder %s of the lease %s reports no handle", tostring(l.holder.id), self.name)
	end
	self.handle = h
	return h
end

-- After holder `failed` failed: the registry's holder once it is another
-- one (the failure detector freed the lease and the standby took it),
-- asked every 50 ms for at most the timeout; or nil, why. A caller in a
-- takeover thus waits for the new holder instead of bouncing off the old
-- one, and never longer than the timeout.
function client_mt:next_holder(failed)
	local give_up = shoal.now() + self.timeout
	while true do
		local h, why = self:find()
		if h and h ~= failed then
			return h
		end
		if shoal.now() + 50 > give_up then
			self.handle = nil
			return nil, why or string.format("the holder %s of the lease %s failed and is still registered",
				shoal.address(failed), self.name)
		end
		shoal.sleep(50)
	end
end

-- A call (lua protocol) to the holder, looked up again and tried once more
-- when it answers NOT_ACTIVE or cannot be reached (lost node, gone
-- service, no answer within the timeout); when it is gone (NODEDOWN,
-- NOSERVICE) the second try waits for a holder other than that one
-- (next_holder). At most two calls and the look-ups of one timeout.
function client_mt:call(cmd, ...)
	local why, failed
	for _ = 1, 2 do
		local h = self.handle
		if h == nil then
			if failed then
				h, why = self:next_holder(failed)
			else
				h, why = self:find()
			end
		end
		if h then
			local res = table.pack(shoal.trycalltimeout(self.timeout, h, "lua", cmd, ...))
			if res[1] and not (res[2] == nil and res[3] == lease.NOT_ACTIVE) then
				return table.unpack(res, 2, res.n)
			end
			why = string.format("%s: %s", shoal.address(h), tostring(res[1] and res[4] or res[3]))
			if self.handle == h then
				self.handle = nil
			end
			-- gone (its node lost, its service exited): wait for the next holder;
			-- slow or a standby: ask the registry again at once
			local code = not res[1] and res[2]
			if code == shoal.errors.NODEDOWN or code == shoal.errors.NOSERVICE then
				failed = h
			end
		end
	end
	return nil, lease.NO_ACTIVE, why
end

return lease
