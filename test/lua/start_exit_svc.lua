-- start_exit_svc: a service that goes away during its start function.
--   first argument "exit": the start function calls shoal.exit()
--   first argument "sleep": the start function binds the name given as the
--   second argument, then sleeps 3 s (to be killed meanwhile)
local shoal = require "shoal"

local mode, name = ...

shoal.start(function()
	if mode == "exit" then
		shoal.exit()
	end
	if name then
		shoal.name(name)
	end
	shoal.sleep(3000)
end)
