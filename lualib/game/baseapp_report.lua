-- game/baseapp_report.lua - what the debug console's `players` and
-- `entity ID` show of a baseapp (docs/console.md, "Game state"): its
-- sessions, read from the baseapp's state S (lualib/game/baseapp.lua).
local shoal = require "shoal"
local report = require "game.report"

local M = {}

function M.provide(S)
	local MAX_ROWS = 200 -- players listed; the rest only counted
	report.provide("players", function()
		local accounts = {}
		for account in pairs(S.sessions) do
			accounts[#accounts + 1] = account
		end
		table.sort(accounts)
		local lines = { string.format("baseapp %s (gate %s): %d players%s", S.id, tostring(S.address), S.online,
			S.draining and ", draining" or "") }
		for i = 1, math.min(#accounts, MAX_ROWS) do
			local s = S.sessions[accounts[i]]
			lines[#lines + 1] = string.format("  account %d %s", accounts[i], report.fields { epoch = s.epoch,
				name = s.name, agent = string.format(":%08x", s.agent), ending = s.ending and true or false })
		end
		if #accounts > MAX_ROWS then
			lines[#lines + 1] = string.format("  ... and %d more", #accounts - MAX_ROWS)
		end
		return lines, #accounts
	end)
	report.provide("entity", function(account)
		local s = S.sessions[account]
		if s == nil then
			return nil
		end
		local lines = { string.format("baseapp %s: account %d %s", S.id, account,
			report.fields { epoch = s.epoch, name = s.name, agent = string.format(":%08x", s.agent) }) }
		local ok, e = shoal.trycalltimeout(1000, s.agent, "lua", "entity", account)
		if ok and e then
			lines[#lines + 1] = "  entity " .. report.fields(e)
		else
			lines[#lines + 1] = "  entity: its agent did not answer (" .. tostring(e) .. ")"
		end
		return lines
	end)
end

return M
