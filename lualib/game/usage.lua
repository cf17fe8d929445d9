-- game/usage.lua - this process's memory and CPU, for the load a game
-- service reports to the registry (baseapp, cellapp): one reader of /proc
-- instead of a copy per service.
--
--   local usage = require "game.usage"
--   local u = usage.new()
--   local mem_mb, cpu_pct = u:sample()  -- RSS in MB; CPU in percent of one core since the last sample
--
-- CPU is the whole process's (every service of the node), so two services
-- on one node report the same figure. The first sample's CPU is 0.
local shoal = require "shoal"

local usage = {}
local mt = {}
mt.__index = mt

function usage.new()
	return setmetatable({ at = nil, ticks = 0 }, mt)
end

function mt:sample()
	local mem, cpu = 0, 0
	local f = io.open("/proc/self/statm")
	if f then
		local pages = f:read("n")
		pages = f:read("n") -- the second field: resident pages
		f:close()
		mem = math.floor((pages or 0) * 4096 / 1048576)
	end
	f = io.open("/proc/self/stat")
	if f then
		local line = f:read("l") or ""
		f:close()
		local rest = line:match("%) (.*)$") or ""
		local fields = {}
		for w in rest:gmatch("%S+") do
			fields[#fields + 1] = w
		end
		local ticks = (tonumber(fields[12]) or 0) + (tonumber(fields[13]) or 0) -- utime + stime, 1/100 s
		local now = shoal.now()
		if self.at then
			local dt = now - self.at
			if dt > 0 then
				cpu = math.floor((ticks - self.ticks) * 10 * 100 / dt) -- ticks are 10 ms
			end
		end
		self.at, self.ticks = now, ticks
	end
	return mem, math.max(cpu, 0)
end

return usage
