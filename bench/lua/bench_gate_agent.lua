-- bench_gate_agent: echoes every frame of its connection (a Lua agent in
-- the path, as a game's agent would be).
local shoal = require "shoal"
local gateserver = require "shoal.gateserver"

shoal.start(function()
	gateserver.agent {
		message = function(conn, msg)
			gateserver.write(conn, msg)
		end,
	}
end)
