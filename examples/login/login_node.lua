-- login_node ROLE: one node of a login cluster (docs/loginapp.md, "A
-- cluster"; docs/cluster-layout.md, "The login cluster"). The node with
-- `registry = true` runs the registry; then
--   global   dbmgr and baseappmgr, named cluster-wide "dbmgr" and "baseappmgr";
--            but a global node of a layout (examples/login/layout.lua) whose
--            tags name components runs exactly those ("registry": the
--            registry only): "dbmgr" (named
--            cluster-wide "dbmgr"), "baseappmgr" (one of an active/standby
--            pair over the registry lease) and "loginapp"
--   baseapp  the demo game logic and one baseapp (it registers in the registry)
--   login    one loginapp (login_dbmgr = "dbmgr"; it finds the active
--            baseappmgr through the registry lease)
local shoal = require "shoal"
local cluster = require "cluster"

local role = ...

local function start_dbmgr()
	shoal.newservice("dbmgr")
	cluster.register("dbmgr", ".dbmgr")
end

shoal.start(function()
	if role == "global" then
		local tags = {}
		for _, t in ipairs(cluster.tags()) do
			tags[t] = true
		end
		if tags.registry or tags.dbmgr or tags.baseappmgr or tags.loginapp then
			if tags.dbmgr then
				start_dbmgr()
			end
			if tags.baseappmgr then
				shoal.newservice("baseappmgr")
			end
			if tags.loginapp then
				shoal.newservice("loginapp")
			end
		else
			start_dbmgr()
			cluster.register("baseappmgr", shoal.newservice("baseappmgr"))
		end
	elseif role == "baseapp" then
		shoal.newservice("game_demo")
		shoal.newservice("baseapp")
	elseif role == "login" then
		shoal.newservice("loginapp")
	else
		error("login_node: role global, baseapp or login expected, not " .. tostring(role))
	end
	shoal.log("login node " .. role .. ": started")
end)
