-- gate_slow_agent: an agent whose handler takes its time: the first frame
-- of a connection waits gate_slow_ms (default 1000) before its echo, so
-- the frames behind it queue in the gateserver template.
local shoal = require "shoal"
local gateserver = require "shoal.gateserver"

local slow_ms = math.tointeger(tonumber(shoal.getenv("gate_slow_ms") or "1000"))
local seen = {}

shoal.start(function()
	gateserver.agent {
		message = function(conn, msg)
			if not seen[conn] then
				seen[conn] = true
				shoal.sleep(slow_ms)
			end
			gateserver.write(conn, msg)
		end,
		close = function(conn)
			seen[conn] = nil
		end,
	}
end)
