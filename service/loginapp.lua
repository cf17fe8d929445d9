-- loginapp [PORT]: a login port for game clients (lualib/game/login.lua,
-- docs/loginapp.md, the bytes in docs/protocol.md). Config: the login_* keys.
-- (loginapp worker FRONT KEY: one of the front's login_services workers.)
-- Commands ("lua"):
--   stats()    -> counters: ok, registered, guests, kicks, races, inflight, one per refusal code name
--   address()  -> "host:port" the login port listens on (nil until it does)
local shoal = require "shoal"
local login = require "game.login"

local port, front, key = ...

shoal.start(function()
	local conf = login.config()
	if port == "worker" then
		login.worker(conf, front, key)
		return
	end
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
