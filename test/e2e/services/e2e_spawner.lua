-- e2e_spawner N: the start service of the spawn-during-shutdown stress test.
-- Starts N spawner loops (as services "e2e_spawner loop") that start and kill
-- e2e_echo services without pause, then logs "e2e ready".
local shoal = require "shoal"

local role = ...

shoal.start(function()
	if role == "loop" then
		shoal.fork(function()
			while true do
				shoal.kill(shoal.newservice("e2e_echo"))
			end
		end)
		return
	end
	for _ = 1, tonumber(role) or 4 do
		shoal.newservice("e2e_spawner", "loop")
	end
	shoal.log("e2e ready")
end)
