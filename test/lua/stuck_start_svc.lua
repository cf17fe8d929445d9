-- stuck_start_svc: its main chunk loops forever (for test_monitor).
local shoal = require "shoal"

local n = 0
while true do
	n = n + 1
end

shoal.start(function() end)
