-- chat_main: starts the chat logic instances, then the watchdog (and its gate).
local shoal = require "shoal"

shoal.start(function()
	local n = math.tointeger(tonumber(shoal.getenv("chat_logic") or "4"))
	for i = 1, n do
		shoal.newservice("chat_logic", i)
	end
	shoal.newservice("watchdog")
end)
