-- bench_peer: the two ends of the message benchmarks.
local shoal = require "shoal"

local command = {}
require "bench_counter"(command) -- expect, ping, wait, received

function command.flood(target, n)
	local send = shoal.send
	local t0 = shoal.hpc()
	for i = 1, n do
		send(target, "lua", "ping", i)
	end
	return t0
end

function command.echo(x)
	return x
end

function command.callloop(target, n)
	local call = shoal.call
	local t0 = shoal.hpc()
	for i = 1, n do
		call(target, "lua", "echo", i)
	end
	return shoal.hpc() - t0
end

shoal.start(function()
	shoal.dispatch_commands(command)
end)
