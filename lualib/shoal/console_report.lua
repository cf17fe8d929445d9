-- shoal/console_report.lua - the debug console's game commands (players,
-- spaces, entity ID, failover, ds [FLEET], alloc NAME, drain MS, fleet, alias NAME TARGET,
-- scale NAME N: docs/console.md, "Game state"). The console
-- knows no game service: it asks every Lua service of the node, in
-- parallel and bounded by console_timeout, for its report on a topic
-- (shoal/debug.lua's `report`), and prints the answers of those that
-- provide one (a baseapp reports players, a cellapp spaces, ...).
--
--   local reports = require "shoal.console_report"
--   reports.install(COMMAND, {
--   	services = fn,   -- () -> {{h =, st =}, ...} every live service
--   	call_all = fn,   -- (handles, ...) -> one table.pack(true, ... | false, code, text) per handle
--   	call_error = fn, -- (h, code, text) -> one line
--   	addr = fn,       -- handle -> ":0100000a"
--   })

local shoal = require "shoal"

local reports = {}

-- What each command asks, and how its summary line names the things counted.
local TOPICS = {
	players = "players",
	spaces = "spaces",
	entity = "reports",
	failover = "events",
	ds = "processes",
	alloc = "allocations",
	drain = "agents",
	fleet = "fleets",
	alias = "aliases",
	scale = "agents",
}

local MAX_FAILED = 10 -- failed services listed; the rest only counted

function reports.install(COMMAND, env)
	local function ask(out, topic, ...)
		local handles = {}
		for _, r in ipairs(env.services()) do
			if r.st.module == "snlua" and r.h ~= shoal.self() then
				handles[#handles + 1] = r.h
			end
		end
		local results = env.call_all(handles, "report", topic, ...)
		local count, answered, failed = 0, 0, {}
		for i, r in ipairs(results) do
			if r[1] and type(r[2]) == "table" then
				answered = answered + 1
				for _, line in ipairs(r[2]) do
					out(tostring(line))
				end
				count = count + (math.tointeger(r[3]) or #r[2])
			elseif not r[1] and r[2] ~= shoal.errors.NOSERVICE then -- NOSERVICE: it exited meanwhile
				failed[#failed + 1] = string.format("  %s failed: %s", env.addr(handles[i]),
					env.call_error(handles[i], r[2], r[3]))
			end
		end
		return count, answered, failed
	end

	for topic, what in pairs(TOPICS) do
		COMMAND[topic] = function(out, args)
			local count, answered, failed = ask(out, topic, args.id or args.name, args.target or args.count)
			if topic == "entity" and answered == 0 then
				out(string.format("entity %d: not on this node", args.id))
			else
				out(string.format("%d %s from %d services", count, what, answered))
			end
			for i = 1, math.min(#failed, MAX_FAILED) do
				out(failed[i])
			end
			if #failed > MAX_FAILED then
				out(string.format("  ... and %d more failed", #failed - MAX_FAILED))
			end
		end
	end
end

return reports
