-- world_node ROLE: one node of the world cluster (examples/world/layout.lua,
-- docs/cellapp.md). ROLE:
--   global   the components its tags name: "dbmgr" (named cluster-wide
--            "dbmgr"), "baseappmgr", "cellappmgr" (each one of an
--            active/standby pair over its registry lease; a failover
--            service next to baseappmgr), "loginapp";
--            "registry" alone: nothing else
--   baseapp  the demo game logic and one baseapp
--   cellapp  one cellapp
local shoal = require "shoal"
local cluster = require "cluster"

local role = ...

shoal.start(function()
	if role == "global" then
		local tags = {}
		for _, t in ipairs(cluster.tags()) do
			tags[t] = true
		end
		if tags.dbmgr then
			shoal.newservice("dbmgr")
			cluster.register("dbmgr", ".dbmgr")
		end
		if tags.baseappmgr then
			shoal.newservice("baseappmgr")
			shoal.newservice("failover") -- docs/failover.md: on the managers' nodes
		end
		if tags.cellappmgr then
			shoal.newservice("cellappmgr")
		end
		if tags.loginapp then
			shoal.newservice("loginapp")
		end
	elseif role == "baseapp" then
		shoal.newservice("game_demo")
		shoal.newservice("baseapp")
	elseif role == "cellapp" then
		shoal.newservice("cellapp")
	else
		error("world_node: role global, baseapp or cellapp expected, not " .. tostring(role))
	end
	shoal.log("world node " .. role .. ": started")
end)
