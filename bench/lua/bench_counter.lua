-- bench_counter: the receiving end of the one-way benchmarks, shared by
-- bench_peer and bench_cluster_peer. Adds to a command table:
--   "expect", n   reset the count
--   "ping"        one-way: counted
--   "wait"        answers the CLOCK_MONOTONIC ns (shoal.hpc) at which the
--                 n-th ping arrived
--   "received"    -> the count so far
local shoal = require "shoal"

return function(command)
	local expected, received, done_at, waiter = 0, 0, nil, nil

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

	function command.received()
		return received
	end
end
