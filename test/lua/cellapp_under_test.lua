-- cellapp_under_test REGISTRY: a cellapp (lualib/game/cellapp.lua) that
-- registers in the given registry and saves no snapshots (test_cellapp).
local shoal = require "shoal"
local cellapp = require "game.cellapp"

local reg = ...

shoal.start(function()
	local conf = cellapp.config()
	conf.registry, conf.dbmgr, conf.heartbeat_ms, conf.snapshot_ms = reg, "", 100, 3600000
	cellapp.start(conf)
end)
