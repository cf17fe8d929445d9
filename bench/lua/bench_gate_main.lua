-- bench_gate_main: a gate on 127.0.0.1 (port from env BENCH_GATE_PORT, 0:
-- any) whose connections each get a Lua echo agent. Prints
-- "GATE_LISTEN host:port" when ready; bench/run drives it with gate_load.
-- BENCH_GATE_AGENT names another agent: gate_aead_agent for the AEAD mode
-- (driven by gate_load_aead).
local shoal = require "shoal"
local gateserver = require "shoal.gateserver"

shoal.start(function()
	gateserver.watchdog {
		gate = {
			host = "127.0.0.1",
			port = tonumber(os.getenv("BENCH_GATE_PORT") or "0"),
			maxconn = 4096,
			idle = 0,
		},
		-- test/e2e/services: a Lua agent that echoes every frame
		agent = os.getenv("BENCH_GATE_AGENT") or "gate_echo_agent",
		listen = function(addr)
			io.write("GATE_LISTEN ", addr, "\n")
			io.flush()
		end,
	}
end)
