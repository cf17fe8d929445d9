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
-- declared it dead still believes it is active until its next check (one
-- interval) or the lease event: fence on the epoch where it matters.
local shoal = require "shoal"

local lease = {}
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

return lease
