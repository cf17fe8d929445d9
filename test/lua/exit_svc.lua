-- exit_svc: helper for test_exit.
--   defer                  takes the request and keeps it unanswered
--   sleep ms               answers after sleeping ms (the handler holds the request)
--   count                  -> number of requests kept by defer, of handlers in sleep
--   exit                   shoal.exit() (one-way or call)
--   busy_until_named n ms  spins until the name n is bound (at most ms)
--   ping                   -> "pong"
--   boom                   raises "boom on purpose"
--   boom_table             raises a table
--   relay addr cmd ...     -> shoal.call(addr, "lua", cmd, ...)
local shoal = require "shoal"

local kept = {}
local command = {}

function command.defer()
	kept[#kept + 1] = shoal.response()
end

local sleepers = 0

function command.sleep(ms)
	sleepers = sleepers + 1
	shoal.sleep(ms)
	return "slept"
end

function command.count()
	return #kept, sleepers
end

function command.exit()
	shoal.exit()
end

function command.busy_until_named(name, ms)
	local deadline = shoal.now() + ms
	while shoal.now() < deadline and not shoal.localname(name) do
	end
end

function command.ping()
	return "pong"
end

function command.boom()
	error("boom on purpose")
end

function command.boom_table()
	error({ code = 42 })
end

function command.relay(addr, cmd, ...)
	return shoal.call(addr, "lua", cmd, ...)
end

shoal.start(function()
	shoal.dispatch_commands(command)
end)
