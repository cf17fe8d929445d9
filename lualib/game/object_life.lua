-- game/object_life.lua - the registry life of a service that owns
-- distributed objects (game/object.lua, docs/objects.md "Never two
-- owners"). The service registers once as the component {type =
-- "objects", id = "NODE.HANDLE", status = {handle}}; that life holds the
-- leases of its objects, and its heartbeats keep them.
--
--   local life = require "game.object_life"
--   life.start(registry_addr, function(why) ... end)  -- once; fn: the life ended, drop everything
--   life.running()              -- false after life.stop()
--   life.fresh()                -- this life is surely alive in the registry's eyes now
--   life.me()                   -- {type, id, inc}: what a transfer to this life names
--   life.lease(verb, name, ms [, to])  -- "lease" | "release" | "transfer": the lease | nil, code, why
--   life.holder(name, ms)       -- the handle of the lease's holder (or false: nobody) | nil, why
--   life.stop()                 -- leaves the registry: every lease free at once
--
-- Freshness: a heartbeat answered at time T means the registry cannot
-- declare this life dead before T + registry_dead x heartbeat_ms, so it
-- is fresh until T + registry_suspect x heartbeat_ms (T taken before the
-- request is sent: earlier, never later). Past that — the registry cannot
-- be reached, or this process was frozen — game/object.lua uses none of
-- its objects until a heartbeat gets through again, so a node cut off
-- from the registry stops acting as an owner before the registry can give
-- its objects to another. This judges only this service's own life, by
-- the registry's rule: it is not a second failure detector.
local shoal = require "shoal"

local life = {}
local r -- the registry client; nil before start and after stop
local fresh_until = 0
local ended -- fn(why): the life ended (every lease is gone)

function life.start(addr, on_end)
	if r then
		return
	end
	local registry = require "shoal.registry"
	if addr == nil then
		addr = require("cluster").registry().addr
	elseif type(addr) == "table" and addr.register then -- a client (built-in or etcd): its registry
		addr = addr.addr
	end
	local me = registry.new(addr)
	local host, port = require("shoal.lease").node_address()
	local interval = shoal.config("heartbeat_ms")
	me:register { type = "objects", id = string.format("%d.%x", shoal.config("node"), shoal.self()),
		node = shoal.config("node"), addr = host, port = port, interval = interval,
		status = { handle = shoal.self() } }
	local margin = interval * shoal.config("registry_suspect")
	fresh_until = shoal.now() + margin
	ended = on_end
	me:on_register(function(old, new)
		ended(string.format("registry life %d ended (now %d)", old, new))
	end)
	r = me
	shoal.fork(function() -- r:keepalive, noting when each heartbeat got through
		while r == me do
			shoal.sleep(interval)
			local t0 = shoal.now()
			local ok, err = pcall(me.heartbeat, me) -- registers again after a refusal (on_register)
			if ok then
				fresh_until = t0 + margin
			elseif r == me then
				shoal.warn(string.format("object: heartbeat of %s/%s failed: %s", me.spec.type, me.spec.id, err))
			end
		end
	end)
end

function life.running()
	return r ~= nil
end

function life.fresh()
	return r ~= nil and shoal.now() < fresh_until
end

function life.me()
	return { type = r.spec.type, id = r.spec.id, inc = r.inc }
end

function life.lease(verb, name, ms, to)
	if r == nil then
		return nil, shoal.errors.EXITING, "object: this service's objects are stopped"
	end
	local l, code, why = r:trylease(verb, name, ms, to)
	if l == nil and code == shoal.errors.STALE then
		ended("the registry says: " .. tostring(why))
	end
	return l, code, why
end

function life.holder(name, ms)
	if r == nil then
		return nil, "this service's objects are stopped"
	end
	local ok, list = pcall(r.leases, r, name, ms)
	if not ok then
		return nil, list
	end
	local h = list[1] and list[1].holder and list[1].holder.status and list[1].holder.status.handle
	return math.type(h) == "integer" and h or false
end

function life.stop()
	local me = r
	r = nil -- ends the heartbeat loop
	if me then
		pcall(me.leave, me)
	end
end

return life
