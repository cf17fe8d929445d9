-- lease_holder_svc REGISTRY ID: a registered life (type "holder", id ID,
-- interval 100 ms, keepalive) holding the lease "H" through shoal/lease.lua,
-- for test_lease. Commands (lua):
--   state()       -> {active, epoch, history = {"active:E", "standby:E:holder", ...}}
--   freeze()      stops its heartbeats (the registry will declare it dead)
--   stop()        gives the lease back (lease:stop)
--   reregister()  registers again (a new life, as keepalive does after a
--                 freeze) -> the history right after
local shoal = require "shoal"
local registry = require "shoal.registry"
local lease = require "shoal.lease"

local reg, id = ...
local history = {}
local r, held

local command = {}

function command.state()
	return { active = held.active, epoch = held.epoch, history = history }
end

function command.freeze()
	r:silence()
end

function command.stop()
	held:stop()
end

function command.reregister()
	r:register(r.spec)
	return history
end

shoal.start(function()
	shoal.dispatch_commands(command)
	r = registry.new(math.tointeger(tonumber(reg)) or reg)
	r:register { type = "holder", id = id, node = 1, addr = "127.0.0.1", port = 1, interval = 100 }
	r:keepalive()
	held = lease.hold(r, "H", {
		active = function(epoch)
			history[#history + 1] = "active:" .. epoch
		end,
		standby = function(holder, epoch)
			history[#history + 1] = "standby:" .. epoch .. ":" .. (holder and tostring(holder.id) or "-")
		end,
	})
end)
