-- baseapp: the gate game clients play on, their sessions and entities
-- (lualib/game/baseapp.lua, docs/baseapp.md). Config: the baseapp_* keys.
-- Registers in the registry as type "baseapp" (id: its handle in hex),
-- reporting online, cpu and mem, so baseappmgr can pick it. Its commands
-- are listed in lualib/game/baseapp.lua (expect, kick, enter, send,
-- broadcast, sessions, stats, id).
local shoal = require "shoal"
local baseapp = require "game.baseapp"

shoal.start(function()
	baseapp.start(baseapp.config())
end)
