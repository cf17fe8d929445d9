-- failover: reacts to the registry's verdicts (lualib/game/failover.lua,
-- docs/failover.md). Runs on the managers' nodes; two instances do no harm.
-- Config: failover_registry (empty: the cluster's), failover_recent,
-- baseapp_dbmgr (the dbmgr whose directory it releases).
--
-- Commands ("lua"):
--   recent([n])  -> the last n events {{at_ms, event, line}, ...}, newest last
--   counts()     -> {event = n}
-- The first instance on a node is named .failover (the dashboard asks it).
local shoal = require "shoal"
local failover = require "game.failover"

local command = {}
local f

function command.recent(n)
	return f:recent(n)
end

function command.counts()
	return f:counts()
end

-- A watch, again after the registry forgot this client (a restarted
-- registry drops its watchers): events of a filter are handled in order.
local function watch(r, filter, fn)
	local ok, list = pcall(r.watch, r, filter, fn)
	if not ok then
		shoal.warn("failover: cannot watch " .. tostring(next(filter)) .. ": " .. tostring(list))
		return
	end
	for _, c in ipairs(list) do
		fn(c)
	end
end

-- The debug console's `failover`: the recent events, newest last.
local function reports()
	require("game.report").provide("failover", function()
		local events = f:recent()
		local lines = { string.format("failover :%08x: %d recent events", shoal.self(), #events) }
		for _, e in ipairs(events) do
			lines[#lines + 1] = "  " .. e.line
		end
		return lines, #events
	end)
end

shoal.start(function()
	pcall(shoal.name, ".failover", shoal.self()) -- the dashboard asks it for recent events (the first instance)
	shoal.dispatch_commands(command)
	f = failover.new { dbmgr = shoal.config("baseapp_dbmgr"), recent = shoal.config("failover_recent") }
	reports()
	local reg = shoal.config("failover_registry")
	local r = reg ~= "" and require("shoal.registry").new(reg) or require("cluster").registry()
	local function on_component(c)
		local ok, err = pcall(f.on_component, f, c)
		if not ok then
			shoal.error("failover: " .. tostring(err))
		end
	end
	local function on_lease(l)
		if l.event == "lease" then
			f:on_lease(l)
		end
	end
	watch(r, { type = "baseapp" }, on_component)
	watch(r, { type = "node" }, on_component)
	watch(r, { lease = "baseappmgr" }, on_lease)
	watch(r, { lease = "cellappmgr" }, on_lease)
	shoal.log("failover: watching the registry (baseapps, nodes, the managers' leases)")
end)
