-- test_registry_api: test/lua/registry_api.lua's backend-independent cases
-- on the built-in registry (cservice/registry.c): each case launches its
-- own registry (interval 100 ms, dead after 4 missed heartbeats). The same
-- cases run on a real etcd from test_registry_etcd.lua.
local shoal = require "shoal"
local registry = require "shoal.registry"
local t = require "testlib"
local api = require "registry_api"

local INTERVAL, DEAD = 100, 4

local function new(reg)
	if reg == nil then
		reg = shoal.launch("registry", string.format("interval=%d suspect=2 dead=%d", INTERVAL, DEAD))
	end
	return registry.new(reg), reg
end

local cases, names = api.cases { new = new, dead_ms = INTERVAL * DEAD, interval = INTERVAL }
t.start(cases, names)
