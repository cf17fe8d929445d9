-- trivial_svc: the smallest useful service (test_spawn starts 10,000).
--   exit  (one-way) the service exits
--   ping  -> "pong"
local shoal = require "shoal"

shoal.start(function()
	shoal.dispatch("lua", function(_, _, cmd)
		if cmd == "exit" then
			shoal.exit()
		elseif cmd == "ping" then
			return "pong"
		end
	end)
end)
