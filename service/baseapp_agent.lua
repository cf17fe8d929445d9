-- baseapp_agent WATCHDOG [POOLED]: one game connection of a baseapp at a
-- time (started by the baseapp; reused for the next client when POOLED;
-- lualib/game/baseapp_agent.lua).
-- Commands ("lua"): kick(code, account, epoch) -> true once saved; push(body, account) a message to the client.
local shoal = require "shoal"
local agent = require "game.baseapp_agent"

local watchdog, pooled = ...

shoal.start(function()
	agent.start(watchdog, pooled)
end)
