-- gate_slow_agent: an echo agent whose handler can take its time: a frame
-- "sleep" waits gate_slow_ms (default 1000) before its echo, so the frames
-- behind it queue in the gateserver template.
local shoal = require "shoal"
local gateserver = require "shoal.gateserver"

local slow_ms = math.tointeger(tonumber(shoal.getenv("gate_slow_ms") or "1000"))

shoal.start(function()
	gateserver.agent {
		message = function(conn, msg)
			if msg == "sleep" then
				shoal.sleep(slow_ms)
			end
			gateserver.write(conn, msg)
		end,
	}
end)
