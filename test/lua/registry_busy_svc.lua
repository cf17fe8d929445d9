-- registry_busy_svc: a registered life with a keepalive that can be made
-- busy or stuck (test_registry's "busy is not dead" cases).
--   start addr type id interval   registers, keepalive
--   backlog n ms                  queues n messages to itself, each burning ms of CPU
--   spin ms                       burns ms of CPU in this one message
local shoal = require "shoal"
local registry = require "shoal.registry"

local r
local command = {}

local function burn(ms)
	local t0 = os.clock()
	while (os.clock() - t0) * 1000 < ms do
	end
end

function command.start(addr, type, id, interval)
	r = registry.new(addr)
	r:register { type = type, id = id, node = "n1", addr = "127.0.0.1", port = 7000, interval = interval }
	r:keepalive()
	return r.inc
end

function command.backlog(n, ms)
	for _ = 1, n do
		shoal.send(shoal.self(), "lua", "burn", ms)
	end
end

function command.burn(ms)
	burn(ms)
end

function command.spin(ms)
	burn(ms)
end

shoal.start(function()
	shoal.dispatch_commands(command)
end)
