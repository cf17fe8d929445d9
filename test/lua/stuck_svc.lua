-- stuck_svc: loops forever inside a message (for test_monitor).
--   spin                 while true do end (call or one-way)
--   spin_in_fork         (one-way) forks a coroutine that loops forever
--   spin_in_coroutine    loops forever inside a coroutine.wrap coroutine
--   spin_under_pcall     loops forever, restarting under pcall when interrupted
--   churn ms             runs short-lived coroutines (collected as it goes) for ms -> how many
--   ping                 -> "pong"
local shoal = require "shoal"

local command = {}

function command.spin()
	local n = 0
	while true do
		n = n + 1
	end
end

function command.spin_in_fork()
	shoal.fork(command.spin)
end

function command.spin_in_coroutine()
	coroutine.wrap(command.spin)()
end

function command.churn(ms)
	local deadline = shoal.now() + ms
	local n = 0
	local function body()
		return 1
	end
	while shoal.now() < deadline do
		for _ = 1, 50 do
			n = n + coroutine.wrap(body)()
		end
		collectgarbage("step", 0)
	end
	return n
end

function command.spin_under_pcall()
	while true do
		pcall(command.spin)
	end
end

function command.ping()
	return "pong"
end

shoal.start(function()
	shoal.dispatch_commands(command)
end)
