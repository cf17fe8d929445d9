-- e2e_start_fail: a start service whose start function raises.
-- The node must stop with exit code 1 and log the error.
local shoal = require "shoal"

shoal.start(function()
	shoal.log("e2e_start_fail: about to fail")
	error("e2e start failure on purpose")
end)
