-- gate_test_main: the start service of the gate's e2e tests. Launches a
-- gate through the watchdog template; the config chooses the agents:
--   gate_args   gate.c arguments (host/port default 127.0.0.1:0; the gate
--               logs "gate: listening on ADDR", which the runner reads)
--   gate_agent  "lua"       a gate_echo_agent per connection (default)
--               "pool"      4 shared gate_echo_agent services
--               "c"         one shared C echo agent (gate_cecho, zero copy)
--               "watchdog"  no agent: the watchdog echoes (accept)
--               "route"     a gate_route_agent per connection, with
--                           gate_logic instances of gate_route_logic
--               "slow"      a gate_slow_agent per connection (a frame
--                           "sleep" waits gate_slow_ms)
--               "aead"      a gate_aead_agent per connection (the AEAD
--                           mode; close reasons logged at INFO)
--   gate_logic  number of logic instances for "route" (default 4)
local shoal = require "shoal"
local gateserver = require "shoal.gateserver"

local function parse_args(s)
	local t = { host = "127.0.0.1", port = 0 }
	for k, v in (s or ""):gmatch("(%w+)=(%S+)") do
		t[k] = v
	end
	return t
end

shoal.start(function()
	local mode = shoal.getenv("gate_agent") or "lua"
	local conf = { gate = parse_args(shoal.getenv("gate_args")) }
	if mode == "lua" then
		conf.agent = "gate_echo_agent"
	elseif mode == "pool" then
		local pool = {}
		for i = 1, 4 do
			pool[i] = shoal.newservice("gate_echo_agent")
		end
		conf.agent = function(conn)
			return pool[conn % #pool + 1], false
		end
	elseif mode == "c" then
		local echo = shoal.launch("gate_cecho", "")
		conf.agent = function()
			return echo, false
		end
	elseif mode == "watchdog" then
		conf.message = function(conn, msg)
			gateserver.send(gateserver.gate_handle, conn, msg)
		end
	elseif mode == "aead" then
		conf.agent = "gate_aead_agent"
	elseif mode == "slow" then
		conf.agent = "gate_slow_agent"
	elseif mode == "route" then
		local n = math.tointeger(tonumber(shoal.getenv("gate_logic") or "4"))
		for i = 1, n do
			shoal.newservice("gate_route_logic", i)
		end
		conf.agent = "gate_route_agent"
	else
		error("gate_test_main: unknown gate_agent " .. mode)
	end
	conf.close = function(conn, reason)
		local log = mode == "aead" and shoal.log or shoal.debug
		log(string.format("watchdog: connection %d closed: %s", conn, reason))
	end
	gateserver.watchdog(conf)
	shoal.log("gate test node ready, agents: " .. mode)
end)
