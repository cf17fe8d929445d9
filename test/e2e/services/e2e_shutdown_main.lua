-- e2e_shutdown_main: the start service of the SIGTERM/SIGINT tests.
-- Starts three services with exit hooks; the hook of "a" calls "b" during
-- the shutdown. Logs "e2e ready" once all three answered a ping.
local shoal = require "shoal"

shoal.start(function()
	local b = shoal.newservice("e2e_hooked", "b", 0, true)
	local a = shoal.newservice("e2e_hooked", "a", b, false)
	local c = shoal.newservice("e2e_hooked", "c", 0, false)
	for _, h in ipairs({ a, b, c }) do
		assert(shoal.call(h, "lua", "ping") == "pong")
	end
	shoal.log("e2e ready")
end)
