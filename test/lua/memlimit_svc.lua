-- memlimit_svc: a service that limits its own Lua memory at start
-- (first argument: the limit in bytes).
--   build_table mb   builds a table of about mb MB (fails over the limit)
--   build_string mb  builds a string of mb MB
--   small n          builds a table of n items, returns its length
--   memory           -> shoal.memory() (bytes used, limit)
--   ping ...         -> "pong" (arguments ignored)
--   collect          drops what it keeps, full GC, -> shoal.memory()
local shoal = require "shoal"

local limit = ...
local command = {}
local keep

function command.build_table(mb)
	local t = {}
	-- an integer array: 16 bytes a slot, so mb MB is mb * 65536 slots
	for i = 1, mb * 65536 do
		t[i] = i
	end
	keep = t
	return #t
end

function command.build_string(mb)
	local s = string.rep("x", mb * 1024 * 1024)
	keep = s
	return #s
end

function command.small(n)
	local t = {}
	for i = 1, n do
		t[i] = { i }
	end
	return #t
end

function command.memory()
	return shoal.memory()
end

function command.ping()
	return "pong"
end

function command.collect()
	keep = nil
	collectgarbage("collect")
	return shoal.memory()
end

shoal.start(function()
	shoal.setmemlimit(limit)
	shoal.dispatch_commands(command)
end)
