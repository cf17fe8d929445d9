-- bench_cluster_peer: node 2's side of the cluster benchmark, named
-- ".bench". Prints "PEER_READY" when it can be reached.
--   "echo", x       -> x
--   "ping"          one-way: counted
--   "expect", n     reset the count; "wait" answers the CLOCK_MONOTONIC ns
--                   (shoal.hpc) at which the n-th ping arrived
--   "sleep", ms     -> "slept" after ms; "sleepers" -> how many sleep now
local shoal = require "shoal"

local sleepers = 0
local command = {}
require "bench_counter"(command) -- expect, ping, wait, received

function command.echo(x)
	return x
end

function command.sleep(ms)
	sleepers = sleepers + 1
	shoal.sleep(ms)
	sleepers = sleepers - 1
	return "slept"
end

function command.sleepers()
	return sleepers
end

shoal.start(function()
	shoal.dispatch_commands(command)
	shoal.name(".bench", shoal.self())
	io.write("PEER_READY\n")
	io.flush()
end)
