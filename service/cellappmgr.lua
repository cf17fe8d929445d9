-- cellappmgr [registry [id]]: where every space lives, placement, live
-- migration and the recovery of a dead cellapp's spaces
-- (lualib/game/cellappmgr.lua, docs/cellappmgr.md). Commands ("lua"):
--   locate(space)           -> {space, handle, cellapp, epoch} | nil, code, why
--                              (creates a `world_spaces` space on first use)
--   migrate(space [, cellapp]) -> {epoch, pause_ms, queued, from, to} | nil, code, why
--   spaces()                -> {space = {cellapp, handle, epoch}, ...}
--   failover()              -> {counts = {event = n}, recent = {line, ...}}
--   state()                 -> {active, epoch, id, holder, spaces}
-- The standby answers nil, NOT_ACTIVE, why. Callers use game/cellappmgr.lua's client.
local shoal = require "shoal"
local mgr = require "game.cellappmgr"

local registry_addr, my_id = ...

shoal.start(function()
	shoal.name(".cellappmgr", shoal.self())
	mgr.serve(registry_addr, my_id)
end)
