-- login_node ROLE: one node of a login cluster (docs/loginapp.md, "A
-- cluster"; docs/cluster-layout.md, "The login cluster"). The node with
-- `registry = true` runs the registry; then
--   global   dbmgr and baseappmgr, named cluster-wide "dbmgr" and "baseappmgr";
--            but a global node of a layout (examples/login/layout.lua) whose
--            tags name components runs exactly those ("registry": the
--            registry only): "dbmgr" (named
--            cluster-wide "dbmgr"), "baseappmgr" (one of an active/standby
--            pair over the registry lease, with a failover service) and
--            "loginapp"
--   baseapp  the demo game logic and one baseapp (it registers in the registry)
--   login    one loginapp (login_dbmgr = "dbmgr"; it finds the active
--            baseappmgr through the registry lease)
local shoal = require "shoal"
local cluster = require "cluster"

local role = ...

-- On the registry node of a layout: one log line a second (config
-- login_demo_report_ms, 0: off) with the online count of every baseapp
-- the registry knows, while any is online or it changed:
--   login cluster: online 163 | baseapp 07000009 55 | baseapp 08000009 52 | ...
local function report_online()
	local ms = math.tointeger(tonumber(shoal.getenv("login_demo_report_ms") or "1000")) or 1000
	if ms <= 0 then
		return
	end
	shoal.fork(function()
		local last = ""
		while true do
			shoal.sleep(ms)
			local ok, list = pcall(cluster.registry().query, cluster.registry(), { type = "baseapp" })
			if ok then
				table.sort(list, function(a, b)
					return tostring(a.id) < tostring(b.id)
				end)
				local total, parts = 0, {}
				for _, c in ipairs(list) do
					-- a dead life's last status stays in the list until it is purged
					local n = c.state ~= "dead" and math.tointeger(tonumber(c.status and c.status.online)) or 0
					total = total + n
					parts[#parts + 1] = string.format("baseapp %s %d", tostring(c.id), n)
				end
				local line = string.format("login cluster: online %d | %s", total, table.concat(parts, " | "))
				if line ~= last and (total > 0 or last ~= "") then
					shoal.log(line)
				end
				last = line
			end
		end
	end)
end

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
			if tags.registry then
				report_online()
			end
			if tags.dbmgr then
				start_dbmgr()
			end
			if tags.baseappmgr then
				shoal.newservice("baseappmgr")
				shoal.newservice("failover") -- docs/failover.md: on the managers' nodes
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
