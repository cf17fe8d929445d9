-- e2e_echo: answers "ping" with "pong"; nothing else.
local shoal = require "shoal"

shoal.start(function()
	shoal.dispatch("lua", function(_, _, cmd)
		if cmd ~= "ping" then
			error("e2e_echo: unknown command " .. tostring(cmd))
		end
		return "pong"
	end)
end)
