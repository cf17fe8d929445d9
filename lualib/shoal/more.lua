-- shoal/more.lua - the part of the service API that is not on the message
-- path: starting and finding services, shutdown hooks, time helpers.
-- shoal.lua loads it on the first use of any of these names.

return function(shoal)
	local string_format = string.format

	-- ":0100000a" for a handle, the name itself for a name.
	function shoal.address(addr)
		if math.type(addr) == "integer" then
			return string_format(":%08x", addr)
		end
		return tostring(addr)
	end

	-- Unix time in seconds (with ms precision).
	function shoal.time()
		return shoal.starttime() + shoal.now() / 1000
	end

	-- Runs every function of the list fns at once (each in its own
	-- coroutine) and returns when all of them ended: a list of
	-- table.pack(pcall(fn)), in the order of fns. It waits as long as the
	-- slowest one, so each must bound itself (a call has its timeout).
	function shoal.parallel(fns)
		local results, left, me, parked = {}, #fns, coroutine.running(), false
		for i, fn in ipairs(fns) do
			shoal.fork(function()
				results[i] = table.pack(pcall(fn))
				left = left - 1
				if left == 0 and parked then
					parked = false
					shoal.wakeup(me)
				end
			end)
		end
		if left > 0 then
			parked = true
			shoal.wait()
		end
		return results
	end

	-- One structured log line, `WHO: event=NAME k=v ...` (fields an ordered
	-- list {k1, v1, k2, v2, ...}): a JSON log (log_format = "json") gives
	-- it the fields event, k1, k2, ... (docs/operations.md, "Logs").
	-- Whitespace in a value becomes "_", so each value stays one token.
	-- level: "log" (info, the default), "warn" or "error". -> the line
	function shoal.event(who, name, fields, level)
		local parts = { who .. ": event=" .. name }
		for i = 1, #fields, 2 do
			local v = tostring(fields[i + 1]):gsub("%s", "_")
			parts[#parts + 1] = fields[i] .. "=" .. (v == "" and "-" or v)
		end
		local line = table.concat(parts, " ")
		shoal[level or "log"](line)
		return line
	end

	-- Serves requests of proto (default "lua") whose first value names a
	-- function of `commands`: commands[name](...) gives the reply values.
	-- An unknown name is an error the caller sees, naming it.
	-- with_source: a set of command names whose function gets the
	-- sender's handle first (f(source, ...)), for commands that must know
	-- who asks.
	function shoal.dispatch_commands(commands, proto, with_source)
		shoal.dispatch(proto or "lua", function(_, source, cmd, ...)
			local f = commands[cmd]
			if f == nil then
				error(string_format("unknown command %q", tostring(cmd)), 0)
			end
			if with_source and with_source[cmd] then
				return f(source, ...)
			end
			return f(...)
		end)
	end

	-- Starts a C service; returns its handle or raises.
	function shoal.launch(module, args)
		local handle, err = shoal.launchservice(module, args)
		if not handle then
			error(err, 2)
		end
		return handle
	end

	-- Starts a Lua service and waits until its start function has run.
	-- Returns its handle; raises with the service's error if it failed.
	function shoal.newservice(name, ...)
		local handle, err = shoal.launchservice("snlua", name)
		if not handle then
			error(string_format("newservice %s failed: %s", name, err), 2)
		end
		local session = shoal.sendstart(handle, shoal.SESSION_ALLOC, ...)
		local ok, why = shoal.waitsession(session)
		if not ok then
			error(string_format("newservice %s failed: %s", name, why), 2)
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

	-- Registers fn to run on graceful shutdown (SIGTERM), before the service
	-- exits. Hooks may call other services; one failing does not stop the rest.
	local exit_hooks
	function shoal.on_exit(fn)
		if exit_hooks == nil then
			exit_hooks = {}
			shoal.onsystem(function()
				for i = 1, #exit_hooks do
					local ok, err = xpcall(exit_hooks[i], shoal.traceback)
					if not ok then
						shoal.error("exit hook failed: " .. tostring(err))
					end
				end
				shoal.exit()
			end)
		end
		exit_hooks[#exit_hooks + 1] = fn
	end
end
