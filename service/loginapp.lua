-- loginapp [PORT]: a login port for game clients (lualib/game/login.lua,
-- docs/loginapp.md, the bytes in docs/protocol.md). Config: the login_* keys.
-- Commands ("lua"):
--   stats()    -> counters: ok, registered, guests, kicks, races, inflight, one per refusal code name
--   address()  -> "host:port" the login port listens on (nil until it does)
local shoal = require "shoal"
local login = require "game.login"

local port = ...

shoal.start(function()
	local conf = login.config()
	conf.port = math.tointeger(port) or conf.port -- several loginapps on one node: one port each
	local server
	conf.command = {
		stats = login.stats,
		address = function()
			return server.address
		end,
	}
	server = login.start(conf)
end)
