-- test_debug_counter: the service test_debug.lua inspects and reloads
-- (not a test itself). The running total is a file-level local, the hit
-- count a global: both survive a hot reload (see shoal/reload.lua).
--   add N          add N, reply with the total
--   get            -> label, total, hits
--   version        -> 1
--   debug_loaded   -> is shoal.debug loaded?
--   garbage N      keep N small tables; drop: let them go
--   global K       -> _G[K]
local shoal = require "shoal"

local label = ...
local total = 0
local command = {}
hits = hits or 0

function command.add(n)
	total = total + n
	return total
end

function command.get()
	return label, total, hits
end

function command.version()
	return 1
end

function command.debug_loaded()
	return package.loaded["shoal.debug"] ~= nil
end

function command.garbage(n)
	local junk = {}
	for i = 1, n do
		junk[i] = { i, i, i, i, i, i, i, i }
	end
	kept_junk = junk
end

function command.drop()
	kept_junk = nil
end

function command.global(k)
	return _G[k]
end

shoal.start(function()
	shoal.dispatch("lua", function(_, _, cmd, ...)
		hits = hits + 1
		return command[cmd](...)
	end)
end)
