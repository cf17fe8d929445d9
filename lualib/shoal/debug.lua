-- shoal/debug.lua - the per-service side of the debug console.
--
-- The scheduler requires this module on the first PTYPE_DEBUG message a
-- service receives (lualib/src/lua-sched.c), so a service that is never
-- inspected does not carry it. It registers the "debug" protocol (values
-- serialized like "lua") and answers these requests, each in its own
-- coroutine like any request:
--
--   ping            -> "pong"
--   mem             -> bytes used by the Lua state, limit (0: none)
--   gc              -> bytes before, bytes after a full collection
--   stat            -> {name, path, mem, memlimit}
--   run CODE NAME   -> true, {results as strings}, {printed lines}
--                    | false, error (with traceback), {printed lines}
--   reload [FILE]   -> true, {handlers=, replaced=, kept=} | false, error
--   report TOPIC ...-> lines, count | nil (this service reports nothing on TOPIC)
--
-- Game services report what the console's game commands show (players,
-- spaces, entity ID, failover: docs/console.md, "Game state"):
--
--   local sdebug = require "shoal.debug"
--   sdebug.provide("players", function() return {"line", ...}, n end)
--   sdebug.provide("entity", function(id) return lines_or_nil end)
--
-- A provider returns the lines to print and how many things they show
-- (players, spaces; the console sums them), or nil when it knows nothing
-- of the request (an entity that is not here).
-- `run` compiles CODE as a chunk named NAME in an environment that reads
-- and writes the service's globals but captures print(). It runs inside
-- the request's coroutine, so it may call other services.
-- `reload` is in shoal/reload.lua (loaded on the first reload).

local shoal = require "shoal"

local command = {}

function command.ping()
	return "pong"
end

function command.mem()
	return shoal.memory()
end

function command.gc()
	local before = shoal.memory()
	collectgarbage("collect")
	return before, (shoal.memory())
end

function command.stat()
	local mem, limit = shoal.memory()
	return { name = SERVICE_NAME, path = SERVICE_PATH, mem = mem, memlimit = limit }
end

-- The traceback up to the chunk: the frames of this module and of the
-- scheduler below it say nothing about the injected code.
local function chunk_traceback(msg)
	if type(msg) ~= "string" then
		msg = tostring(msg) -- error({...}): show what we can
	end
	local tb = debug.traceback(msg, 2)
	local cut = tb:find("\n%s*%[C%]: in function 'xpcall'")
	return cut and tb:sub(1, cut - 1) or tb
end

function command.run(code, chunkname)
	local printed = {}
	local env = setmetatable({
		print = function(...)
			local t = table.pack(...)
			for i = 1, t.n do
				t[i] = tostring(t[i])
			end
			printed[#printed + 1] = table.concat(t, "\t", 1, t.n)
		end,
	}, { __index = _G, __newindex = _G })
	local fn, err = load(code, chunkname or "=(inject)", "t", env)
	if not fn then
		return false, err, printed
	end
	local r = table.pack(xpcall(fn, chunk_traceback))
	if not r[1] then
		return false, tostring(r[2]), printed
	end
	local results = {}
	for i = 2, r.n do
		results[i - 1] = tostring(r[i])
	end
	return true, results, printed
end

function command.reload(file)
	return require "shoal.reload"(shoal, file)
end

local providers = {} -- topic -> function

function command.report(topic, ...)
	local f = providers[topic]
	if f == nil then
		return nil
	end
	return f(...)
end

local debug_module = setmetatable({}, { __index = command })

-- Registers fn as this service's report on topic (a later call replaces it).
function debug_module.provide(topic, fn)
	assert(type(topic) == "string" and type(fn) == "function", "debug.provide(topic, fn)")
	providers[topic] = fn
end

shoal.register_protocol {
	name = "debug",
	id = shoal.PTYPE_DEBUG,
	pack = shoal.packstring,
	unpack = shoal.unpack,
	dispatch = function(_, _, cmd, ...)
		local f = rawget(command, cmd)
		if f == nil then
			error("unknown debug command " .. tostring(cmd), 0)
		end
		return f(...)
	end,
}

return debug_module
