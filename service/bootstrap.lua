-- bootstrap: the first Lua service of a node. Starts the harbor and
-- clusterd when the config has `cluster` (cross-node messaging, registry
-- membership), the service manager, the metrics endpoint when the config
-- sets metrics_listen, the debug console when the config sets
-- console = true, and the node's start service (config `start`,
-- "name arg..."), then exits.
-- If the start service fails the node stops with exit code 1.
local shoal = require "shoal"

shoal.start(function()
	local clustered = shoal.config("cluster") ~= ""
	if clustered then
		shoal.launch("harbor", "")
	end
	local mgr = shoal.newservice("service_mgr")
	shoal.name(".service_mgr", mgr)
	if shoal.config("metrics_listen") ~= "" then
		-- before the services that make metrics: they register with it on their first
		shoal.name(".metrics", shoal.newservice("metrics"))
	end
	if shoal.config("console") then
		shoal.newservice("debug_console") -- on console_host:console_port
	end
	if clustered then
		shoal.newservice("clusterd") -- registry membership (and the registry itself)
	end
	local start = shoal.config("start")
	local name, args = start:match("^(%S+)%s*(.*)$")
	if args ~= "" then
		shoal.newservice(name, args)
	else
		shoal.newservice(name)
	end
	shoal.exit()
end)
