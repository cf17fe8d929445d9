-- e2e_ds_ctl: stands in for a dscontroller in test/e2e/test_dsagent.py:
-- logs each load report a dsagent sends ("lua" report(agent, load)).
local shoal = require "shoal"

shoal.start(function()
	shoal.dispatch("lua", function(_, _, cmd, agent, l)
		if cmd == "report" then
			local f = l.fleets.f or { ready = -1 }
			shoal.log(string.format("e2e_ds_ctl report from :%08x ready=%d healthy=%s fleet_f_ready=%d ready_ms_p50=%s",
				agent, l.by_state.ready, tostring(l.healthy), f.ready, tostring(l.ready_ms_p50)))
		end
	end)
end)
