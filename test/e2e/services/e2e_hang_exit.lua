-- e2e_hang_exit: an exit hook that never returns; the node must give up
-- after shutdown_timeout and exit with code 2.
local shoal = require "shoal"

shoal.start(function()
	shoal.on_exit(function()
		shoal.log("e2e hang hook entered")
		shoal.sleep(10 ^ 9)
	end)
	shoal.log("e2e ready")
end)
