-- router: the node's table of client protocol ids -> the logic services
-- that handle them and how to choose one (see lualib/shoal/router.lua; one
-- per node, started by shoal.uniqueservice("router"), named .router).
--
--   register HANDLE IDS OPTS   HANDLE handles the protocol ids IDS (a list);
--                              OPTS.route: "hash" | "space" | a module name,
--                              OPTS.spaces: space ids HANDLE owns ("space")
--   unregister HANDLE          forget HANDLE (it exited, or is dead)
--   lookup ID                  -> {route =, instances = {handle...}, spaces = {[space] = handle}, version =}
--                              or nil when no service handles ID
--   list                       -> {[id] = entry} of every protocol
local shoal = require "shoal"

local routes = {} -- id -> { route =, instances = {...}, spaces = {...} }
local version = 0

local command = {}

local function check_route(route)
	if type(route) ~= "string" or route == "" then
		error("router: route must be \"hash\", \"space\" or a module name, got " .. tostring(route))
	end
end

function command.register(handle, ids, opts)
	opts = opts or {}
	local route = opts.route or "hash"
	check_route(route)
	if type(ids) ~= "table" or #ids == 0 then
		error("router: register needs a non-empty list of protocol ids")
	end
	if route == "space" and type(opts.spaces) ~= "table" then
		error("router: route \"space\" needs opts.spaces, the space ids this service owns")
	end
	-- Check everything before changing anything.
	for _, id in ipairs(ids) do
		if math.type(id) ~= "integer" or id < 0 or id > 0xffff then
			error("router: protocol id must be an integer 0..65535, got " .. tostring(id))
		end
		local e = routes[id]
		if e and e.route ~= route then
			error(string.format("router: protocol %d is routed by %q, not %q", id, e.route, route))
		end
		if e and route == "space" then
			for _, space in ipairs(opts.spaces) do
				local owner = e.spaces[space]
				if owner and owner ~= handle then
					error(string.format("router: space %s of protocol %d already belongs to :%08x", tostring(space), id,
						owner))
				end
			end
		end
	end
	for _, id in ipairs(ids) do
		local e = routes[id]
		if e == nil then
			e = { route = route, instances = {}, spaces = {} }
			routes[id] = e
		end
		local present = false
		for _, h in ipairs(e.instances) do
			present = present or h == handle
		end
		if not present then
			e.instances[#e.instances + 1] = handle
			-- Ordered by handle, so every agent sees the same order.
			table.sort(e.instances)
		end
		for _, space in ipairs(opts.spaces or {}) do
			e.spaces[space] = handle
		end
	end
	version = version + 1
	return version
end

function command.unregister(handle)
	for id, e in pairs(routes) do
		for i = #e.instances, 1, -1 do
			if e.instances[i] == handle then
				table.remove(e.instances, i)
			end
		end
		for space, h in pairs(e.spaces) do
			if h == handle then
				e.spaces[space] = nil
			end
		end
		if #e.instances == 0 then
			routes[id] = nil
		end
	end
	version = version + 1
	return version
end

function command.lookup(id)
	local e = routes[id]
	if e == nil then
		return nil
	end
	return { route = e.route, instances = e.instances, spaces = e.spaces, version = version }
end

function command.list()
	return routes
end

shoal.start(function()
	shoal.name(".router")
	shoal.dispatch_commands(command)
end)
