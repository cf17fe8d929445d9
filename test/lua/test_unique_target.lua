-- test_unique_target: a unique service for test_unique. Its start function
-- sleeps 50 ms (so concurrent uniqueservice requests overlap with it) and
-- tells the reporter (first argument) that it started.
--   starts   -> how many times this instance's start function ran
--   ping     -> "pong"
local shoal = require "shoal"

local reporter = ...
local starts = 0

shoal.start(function()
	starts = starts + 1
	shoal.sleep(50)
	if reporter then
		shoal.send(reporter, "lua", "started", shoal.self())
	end
	shoal.dispatch("lua", function(_, _, cmd)
		if cmd == "starts" then
			return starts
		elseif cmd == "ping" then
			return "pong"
		end
		error("unknown command " .. tostring(cmd))
	end)
end)
