-- gate_echo_agent: writes every frame back to its client.
local shoal = require "shoal"
local gateserver = require "shoal.gateserver"

shoal.start(function()
	gateserver.agent {
		message = function(conn, msg)
			gateserver.write(conn, msg)
		end,
	}
end)
