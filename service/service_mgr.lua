-- service_mgr: keeps one instance per node of each "unique" service.
--   unique NAME ARGS...  start NAME once (callers arriving meanwhile wait
--                        for the same start) and return its handle
--   query NAME           return the handle once NAME has been started
local shoal = require "shoal"

local services = {} -- name -> handle, or {starting = bool, waiters = {responder...}}

local command = {}

local function finish(name, ok, result)
	local entry = services[name]
	services[name] = ok and result or nil
	for _, respond in ipairs(entry.waiters) do
		respond(ok, result)
	end
end

function command.unique(name, ...)
	local entry = services[name]
	if type(entry) == "number" then
		return entry
	end
	if entry == nil then
		entry = { starting = false, waiters = {} }
		services[name] = entry
	end
	if entry.starting then
		entry.waiters[#entry.waiters + 1] = shoal.response()
		return
	end
	entry.starting = true
	local ok, result = pcall(shoal.newservice, name, ...)
	finish(name, ok, result)
	if not ok then
		error(result, 0)
	end
	return result
end

function command.query(name)
	local entry = services[name]
	if type(entry) == "number" then
		return entry
	end
	if entry == nil then
		entry = { starting = false, waiters = {} }
		services[name] = entry
	end
	entry.waiters[#entry.waiters + 1] = shoal.response()
end

shoal.start(function()
	shoal.dispatch_commands(command)
end)
