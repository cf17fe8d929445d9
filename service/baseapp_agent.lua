-- baseapp_agent WATCHDOG: one game connection of a baseapp (started by
-- the baseapp for each client; lualib/game/baseapp_agent.lua).
-- Commands ("lua"): kick(code) -> true once saved; push(body) a message to the client.
local shoal = require "shoal"
local agent = require "game.baseapp_agent"

local watchdog = ...

shoal.start(function()
	agent.start(watchdog)
end)
