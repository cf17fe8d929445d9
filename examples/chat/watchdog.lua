-- watchdog: owns the chat's gate; one agent per client.
local shoal = require "shoal"
local gateserver = require "shoal.gateserver"

shoal.start(function()
	gateserver.watchdog {
		gate = {
			host = shoal.getenv("chat_host") or "127.0.0.1",
			port = math.tointeger(tonumber(shoal.getenv("chat_port") or "8888")),
			maxconn = 1000,
			maxpacket = 4096,
			idle = 600000, -- ten quiet minutes
		},
		agent = "agent",
	}
end)
