-- errors_svc: helper for test_errors; every way a request can fail.
-- Commands (lua protocol):
--   ping                 -> "pong"
--   raise text           raises text (no position): a handler's own error
--   respond_fail text    answers through shoal.response() with false, text
--   raw_error payload    answers with an ERROR message whose whole payload
--                        is `payload` (a forged or foreign ERROR)
--   exit_now             exits inside the handler: the request is failed
--                        by the release hook
-- It handles no "text" requests, unless started as errors_svc("text"):
-- then a text request s is answered "text:" .. s.
local shoal = require "shoal"

local mode = ...

local kept = {} -- responders taken by raw_error, never used

local command = {}

function command.ping()
	return "pong"
end

function command.raise(text)
	error(text, 0)
end

function command.respond_fail(text)
	shoal.response()(false, text)
end

function command.exit_now()
	shoal.exit()
end

shoal.start(function()
	if mode == "text" then
		shoal.dispatch("text", function(_, _, s)
			return "text:" .. s
		end)
	end
	shoal.dispatch("lua", function(session, source, cmd, ...)
		if cmd == "raw_error" then
			kept[#kept + 1] = shoal.response() -- so no answer of the scheduler's follows
			assert(shoal.sendraw(source, shoal.PTYPE_ERROR, session, (...)))
			return
		end
		local f = command[cmd]
		if f == nil then
			error("errors_svc: unknown command " .. tostring(cmd))
		end
		return f(...)
	end)
end)
