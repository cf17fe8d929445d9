-- bench_cluster_peer: node 2's side of the cluster benchmark, named
-- ".bench". Prints "PEER_READY" when it can be reached.
--   "echo", x       -> x
--   "ping"          one-way: counted
--   "expect", n     reset the count; "wait" answers the CLOCK_MONOTONIC ns
--                   (shoal.hpc) at which the n-th ping arrived
--   "sleep", ms     -> "slept" after ms; "sleepers" -> how many sleep now
local shoal = require "shoal"

local expected, received, done_at, waiter = 0, 0, nil, nil
local sleepers = 0
local command = {}

function command.echo(x)
	return x
end

function command.ping()
	received = received + 1
	if received == expected then
		done_at = shoal.hpc()
		if waiter then
			waiter(true, done_at)
			waiter = nil
		end
	end
end

function command.expect(n)
	expected, received, done_at = n, 0, nil
end

function command.wait()
	if done_at then
		return done_at
	end
	waiter = shoal.response()
end

function command.received()
	return received
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
	shoal.dispatch("lua", function(_, _, cmd, ...)
		return command[cmd](...)
	end)
	shoal.name(".bench", shoal.self())
	io.write("PEER_READY\n")
	io.flush()
end)
