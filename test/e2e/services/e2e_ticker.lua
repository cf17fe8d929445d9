-- e2e_ticker: logs "e2e tick N" every 100 ms (for the log reopen test).
local shoal = require "shoal"

shoal.start(function()
	shoal.fork(function()
		local n = 0
		while true do
			n = n + 1
			shoal.log("e2e tick", n)
			shoal.sleep(100)
		end
	end)
	shoal.log("e2e ready")
end)
