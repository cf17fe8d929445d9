-- login_node ROLE: one node of a login cluster (docs/loginapp.md, "A
-- cluster"). The node with `registry = true` runs the registry; then
--   global   dbmgr and baseappmgr, named cluster-wide "dbmgr" and "baseappmgr"
--   baseapp  the demo game logic and one baseapp (it registers in the registry)
--   login    one loginapp (login_dbmgr = "dbmgr", login_baseappmgr = "baseappmgr")
local shoal = require "shoal"
local cluster = require "cluster"

local role = ...

shoal.start(function()
	if role == "global" then
		shoal.newservice("dbmgr")
		cluster.register("dbmgr", ".dbmgr")
		cluster.register("baseappmgr", shoal.newservice("baseappmgr"))
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
