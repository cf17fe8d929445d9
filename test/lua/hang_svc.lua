-- hang_svc: helper for test_timeout.
--   hang           takes the request (shoal.response()) and never answers
--   late ms v      answers v after ms (from a forked coroutine)
--   after_late     answers "after_late" once the pending late answer was sent
--   ping           -> "pong"
local shoal = require "shoal"

local dropped = {}   -- responders never used (kept so nothing answers them)
local late_pending = 0
local after_late_waiters = {}

local command = {}

function command.hang()
	dropped[#dropped + 1] = shoal.response()
end

function command.late(ms, v)
	local respond = shoal.response()
	late_pending = late_pending + 1
	shoal.fork(function()
		shoal.sleep(ms)
		respond(true, v)
		late_pending = late_pending - 1
		if late_pending == 0 then
			local w = after_late_waiters
			after_late_waiters = {}
			for _, r in ipairs(w) do
				r(true, "after_late")
			end
		end
	end)
end

function command.after_late()
	if late_pending == 0 then
		return "after_late"
	end
	after_late_waiters[#after_late_waiters + 1] = shoal.response()
end

function command.ping()
	return "pong"
end

shoal.start(function()
	shoal.dispatch_commands(command)
end)
