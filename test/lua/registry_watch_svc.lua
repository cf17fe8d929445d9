-- registry_watch_svc: a registry watcher that can go away (test_registry
-- checks that the registry drops watchers that are gone).
--   watch addr filter  -> the snapshot's size; events are counted
--   count              -> events received so far
--   exit               the service exits
local shoal = require "shoal"
local registry = require "shoal.registry"

local received = 0
local command = {}

function command.watch(addr, filter)
	return #registry.new(addr):watch(filter, function()
		received = received + 1
	end)
end

function command.count()
	return received
end

function command.exit()
	shoal.exit()
end

shoal.start(function()
	shoal.dispatch_commands(command)
end)
