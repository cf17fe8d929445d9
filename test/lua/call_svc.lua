-- call_svc: helper for test_call. Commands (lua protocol):
--   ping                 -> "pong"
--   multi                -> 1, nil, "three", {nested table}, nil (5 values)
--   echo ...             -> the arguments
--   ret_explicit         shoal.ret("a", nil, "c"), then returns "ignored"
--   ret_twice            shoal.ret("first"); a second ret raises (recorded)
--   defer ms ...         answers ... from a forked coroutine after ms
--   defer_fail ms err    answers false, err from a fork after ms
--   defer_twice          answers "once" at once, then a second answer raises (recorded)
--   ret_oneway           (one-way) calls shoal.ret: raises, logged
--   ret_oneway_caught    (one-way) calls shoal.ret under pcall, records the error
--   send_then_spin ms targets...  (one-way) sends "woken" to each target, then busy for ms
--   blob s               (one-way) keeps s
--   blob_get             -> #blob, blob
--   last_err             -> the last recorded error (and clears it)
local shoal = require "shoal"

local command = {}
local last_err
local blob

function command.ping()
	return "pong"
end

function command.multi()
	return 1, nil, "three", { a = { b = { c = "deep" } }, list = { 1, 2, { 3, 4 } }, [10] = false }, nil
end

function command.echo(...)
	return ...
end

function command.ret_explicit()
	shoal.ret("a", nil, "c")
	return "ignored"
end

function command.ret_twice()
	shoal.ret("first")
	local ok, err = pcall(shoal.ret, "second")
	last_err = ok and "second ret did not raise" or err
end

function command.defer(ms, ...)
	local respond = shoal.response()
	local args = table.pack(...)
	shoal.fork(function()
		shoal.sleep(ms)
		respond(true, table.unpack(args, 1, args.n))
	end)
	return "ignored: the request was deferred"
end

function command.defer_fail(ms, err)
	local respond = shoal.response()
	shoal.fork(function()
		shoal.sleep(ms)
		respond(false, err)
	end)
end

function command.defer_twice()
	local respond = shoal.response()
	respond(true, "once")
	local ok, err = pcall(respond, true, "twice")
	last_err = ok and "second answer did not raise" or err
end

function command.ret_oneway()
	shoal.ret("nobody asked")
end

function command.ret_oneway_caught()
	local ok, err = pcall(shoal.ret, "nobody asked")
	last_err = ok and "ret in a one-way message did not raise" or err
end

-- (one-way) sends "woken" to each of targets, then keeps its worker busy
-- for ms: what it sent must not wait for it (test_call.busy_sender...).
function command.send_then_spin(ms, ...)
	for _, target in ipairs { ... } do
		shoal.send(target, "lua", "woken")
	end
	local stop = os.clock() + ms / 1000
	while os.clock() < stop do
	end
end

function command.blob(s)
	blob = s
end

function command.blob_get()
	return #blob, blob
end

function command.last_err()
	local e = last_err
	last_err = nil
	return e
end

shoal.start(function()
	shoal.dispatch("lua", function(_, _, cmd, ...)
		local f = command[cmd]
		if f == nil then
			error("call_svc: unknown command " .. tostring(cmd))
		end
		return f(...)
	end)
end)
