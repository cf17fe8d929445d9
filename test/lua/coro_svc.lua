-- coro_svc: helper for test_coroutines; records events in a list.
--   fork_two          forks f1 and f2 (f1 forks f3), records around them
--   park              (one-way) forks a coroutine that waits
--   wake              wakes the parked coroutine; records around the wakeup
--   events            -> the events so far (and clears them)
local shoal = require "shoal"

local events = {}
local parked
local command = {}

local function record(e)
	events[#events + 1] = e
end

function command.fork_two()
	record("handler begins")
	shoal.fork(function(a, b)
		record("f1 " .. a .. " " .. b)
		shoal.fork(function()
			record("f3")
		end)
	end, "x", "y")
	shoal.fork(function()
		record("f2")
	end)
	record("handler returns")
	return "forked"
end

function command.park()
	parked = shoal.fork(function()
		record("parked waits")
		shoal.wait()
		record("parked woken")
	end)
end

function command.wake()
	record("wake begins")
	record("wakeup " .. tostring(shoal.wakeup(parked)))
	record("wakeup again " .. tostring(shoal.wakeup(parked)))
	record("wake returns")
end

function command.events()
	local e = events
	events = {}
	return e
end

shoal.start(function()
	shoal.dispatch_commands(command)
end)
