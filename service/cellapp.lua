-- cellapp: holds spaces and the cell part of the entities in them
-- (lualib/game/cellapp.lua, docs/cellapp.md). Config: the cellapp_* keys.
-- Registers in the registry as type "cellapp" (id: its handle in hex),
-- reporting {handle, entities, spaces, cpu, mem}, so cellappmgr can place
-- spaces on it. Its commands are listed in lualib/game/cellapp.lua.
local shoal = require "shoal"
local cellapp = require "game.cellapp"

shoal.start(function()
	shoal.name(".cellapp", shoal.self())
	cellapp.start(cellapp.config())
end)
