-- shoal/more.lua - the part of the service API that is not on the message
-- path: timers (sleep, wait, wakeup, timeout), starting and naming services,
-- logging, shutdown hooks. shoal.lua loads it on the first use of any of
-- these names, so a service that never uses them does not carry their code
-- (one copy of it costs each Lua state about 8 KB).

local c = require "shoal.core"

return function(shoal, internal)
	local session_co = internal.session_co
	local wakeup_queue = internal.wakeup_queue
	local get_co = internal.get_co
	local resume = internal.resume
	local wait_response = internal.wait_response
	local error_text = internal.error_text
	local exit_hooks = internal.exit_hooks
	local default_timeout = internal.default_timeout
	local ALLOC = c.SESSION_ALLOC
	local ctimeout = c.timeout
	local cnow = c.now
	local running = coroutine.running
	local yield = coroutine.yield
	local string_format = string.format
	local select = select
	local tostring = tostring

	local sleeping = {} -- coroutine -> timer session, while in shoal.sleep
	local waiting = {} -- coroutine -> true, while in shoal.wait

	-- Unix time in seconds (with ms precision).
	function shoal.time()
		return c.starttime() + cnow() / 1000
	end

	-- Runs fn in a new coroutine after ms milliseconds.
	function shoal.timeout(ms, fn)
		session_co[ctimeout(ms)] = function()
			resume(get_co(), fn)
		end
	end

	-- Suspends the running coroutine for ms milliseconds. Returns "BREAK" when
	-- woken early by shoal.wakeup.
	function shoal.sleep(ms)
		local co = running()
		local s = ctimeout(ms)
		session_co[s] = co
		sleeping[co] = s
		local _, reason = yield()
		sleeping[co] = nil
		if reason == "BREAK" then
			return "BREAK"
		end
	end

	-- Yields to other pending work and comes back after it.
	function shoal.yield()
		return shoal.sleep(0)
	end

	-- Suspends the running coroutine until shoal.wakeup(co).
	function shoal.wait()
		local co = running()
		waiting[co] = true
		yield()
	end

	-- Wakes a coroutine blocked in wait or sleep; it resumes after the current
	-- message. Returns true if it was blocked.
	function shoal.wakeup(co)
		local s = sleeping[co]
		if s then
			session_co[s] = nil
			sleeping[co] = nil
		elseif waiting[co] then
			waiting[co] = nil
		else
			return false
		end
		wakeup_queue[#wakeup_queue + 1] = co
		return true
	end


	-- Binds a local name (".name") to a handle (default: this service).
	function shoal.name(name, handle)
		local ok, err = c.name(name, handle)
		if not ok then
			error(string_format("shoal.name %s: %s", tostring(name), err), 2)
		end
	end

	-- Handle bound to a local name, or nil.
	shoal.localname = c.query

	-- Starts a Lua service and waits until its start function has run.
	-- Returns its handle; raises with the service's error if it failed.
	function shoal.newservice(name, ...)
		local handle, err = c.launch("snlua", name)
		if not handle then
			error(string_format("newservice %s failed: %s", name, err), 2)
		end
		local session = c.sendstart(handle, ALLOC, ...)
		local ok, msg = wait_response(session, default_timeout)
		if not ok then
			error(string_format("newservice %s failed: %s", name, error_text(msg)), 2)
		end
		return handle
	end

	-- Starts a C service; returns its handle or raises.
	function shoal.launch(module, args)
		local handle, err = c.launch(module, args)
		if not handle then
			error(err, 2)
		end
		return handle
	end

	-- One instance per node: started on first use, shared after (concurrent
	-- first uses wait for the same start).
	function shoal.uniqueservice(name, ...)
		return shoal.call(".service_mgr", "lua", "unique", name, ...)
	end

	-- Waits until a unique service exists and returns its handle.
	function shoal.queryservice(name)
		return shoal.call(".service_mgr", "lua", "query", name)
	end

	-- Kills a service (by handle or name); its pending callers get errors.
	function shoal.kill(addr)
		return c.kill(addr)
	end

	-- Registers fn to run on graceful shutdown (SIGTERM), before the service
	-- exits. Hooks may call other services.
	function shoal.on_exit(fn)
		exit_hooks[#exit_hooks + 1] = fn
	end

	-- Stops the whole node with an exit code.
	function shoal.abort(code)
		c.abort(code or 1)
	end

	----------------------------------------------------------------------------
	-- Logging: shoal.log(...) like print; shoal.error/warn/debug/info.

	local function concat(...)
		local n = select("#", ...)
		if n == 1 then
			return tostring((...))
		end
		local t = { ... }
		for i = 1, n do
			t[i] = tostring(t[i])
		end
		return table.concat(t, " ", 1, n)
	end

	local function logger(level)
		return function(...)
			if c.logenabled(level) then
				c.log(level, concat(...))
			end
		end
	end

	shoal.debug = logger(c.LOG_DEBUG)
	shoal.info = logger(c.LOG_INFO)
	shoal.warn = logger(c.LOG_WARN)
	shoal.error = logger(c.LOG_ERROR)
	shoal.log = shoal.info
end
