-- login_main: the whole login path on one node (docs/loginapp.md):
-- dbmgr, a registry, baseappmgr, BASEAPPS baseapps (each its own gate),
-- the demo game logic, and LOGINAPPS loginapps on consecutive ports from
-- login_port (0: free ports; each logs "loginapp: listening on ...").
-- Config (non-schema) keys: login_demo_baseapps (2), login_demo_loginapps (1).
local shoal = require "shoal"

local function count(key, default)
	return math.tointeger(tonumber(shoal.getenv(key) or default)) or default
end

shoal.start(function()
	shoal.newservice("dbmgr")
	local reg = assert(shoal.launch("registry", "interval=1000 suspect=3 dead=6"))
	shoal.name(".registry", reg)
	shoal.name(".baseappmgr", shoal.newservice("baseappmgr", ".registry"))
	shoal.newservice("game_demo")
	for _ = 1, count("login_demo_baseapps", 2) do
		shoal.newservice("baseapp")
	end
	local port = shoal.config("login_port")
	for i = 1, count("login_demo_loginapps", 1) do
		shoal.newservice("loginapp", port ~= 0 and port + i - 1 or 0)
	end
	shoal.log("login demo: started")
end)
