-- bench_peer: the two ends of the message benchmarks.
local shoal = require "shoal"

local expected, received, done_at, waiter = 0, 0, nil, nil
local command = {}

function command.expect(n)
	expected, received, done_at = n, 0, nil
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

function command.wait()
	if done_at then
		return done_at
	end
	waiter = shoal.response()
end

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
	shoal.dispatch("lua", function(_, _, cmd, ...)
		return command[cmd](...)
	end)
end)
