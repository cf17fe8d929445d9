-- shoal/router.lua - protocol routing between agents and logic services.
--
-- Logic services say which client protocol ids they handle and how a
-- message picks one of their instances; an agent routes each client
-- message by that rule and sends the reply back to its client. The gate
-- knows nothing of this: a new rule is a new Lua module, not a gate change.
--
-- Logic service (each instance):
--
--   local router = require "shoal.router"
--   router.serve({
--       [10] = function(ctx, body, id) return "reply", { uid = ... } end,
--   }, { route = "hash" })
--
--   router.serve(handlers, opts)   register the ids of handlers and serve them
--   router.register(ids, opts)     register only (serve with router.handle)
--   router.handle(id, fn)          fn(ctx, body, id) -> reply [, ctx update]
--     opts.route   "hash"   instance = jump_hash(uid) over the instances
--                           (stateless logic: a uid always reaches the same one)
--                  "space"  instance = the owner of ctx.space; instances
--                           register opts.spaces = {space ids they own}
--                  other    the name of a Lua module returning
--                           function(entry, uid, id, body, ctx) -> handle
--   A handler's reply (a string, or nil for none) goes back to the client;
--   its second result, a table, is merged into the agent's ctx (set uid at
--   login, space when a player changes scene). ctx holds gate, conn, uid and
--   whatever the agent or earlier updates put there; ctx.gate/ctx.conn let a
--   logic service write to that client later (router.reply / gateserver.send).
--   The service's own "lua" commands keep working if installed first, or
--   pass them as opts.command.
--
-- Agent:
--
--   local ok, reply = router.route(uid, id, body, ctx)
--   -> true, reply (string or nil)  |  false, error text
--
--   router.decode(frame) -> id, body   (2-byte big-endian protocol id + body)
--   router.encode(id, body) -> frame
--   router.hash(uid, n) -> 1..n        (the "hash" rule, for tests and tools)
--   router.lookup(id) -> entry          (cached for config router_cache_ms, default 1000)
--
-- Known limit: an agent learns of new instances when its cache entry expires,
-- so for up to router_cache_ms after a change agents may still route by the
-- old instance list; a dead instance is dropped at once on the first call
-- to it that fails with a dead-service code (shoal.errors.NOSERVICE or
-- EXITING). A handler's own error (SHOAL_ERAISED), whatever its text, or a
-- timeout leaves the instance registered.

local shoal = require "shoal"

local string_byte = string.byte
local math_floor = math.floor
local E = shoal.errors

-- The codes of a call that say its target is gone (not that it failed).
local DEAD = { [E.NOSERVICE] = true, [E.EXITING] = true }

local router = {}

local ROUTE_CMD = "router_client"

local router_service
local function service()
	if router_service == nil then
		router_service = shoal.uniqueservice("router")
	end
	return router_service
end

-- ---- hashing ----

-- FNV-1a, 64 bits, over the bytes of tostring(uid).
local function fnv1a(s)
	local h = 0xcbf29ce484222325
	for i = 1, #s do
		h = (h ~ string_byte(s, i)) * 0x100000001b3
	end
	return h
end

-- Jump consistent hash (Lamping & Veach): 0..n-1; growing n moves only the
-- keys that must move.
local function jump(key, n)
	local b, j = -1, 0
	while j < n do
		b = j
		key = key * 2862933555777941757 + 1
		j = math_floor((b + 1) * (2147483648.0 / ((key >> 33) + 1)))
	end
	return b
end

function router.hash(uid, n)
	return jump(fnv1a(tostring(uid)), n) + 1
end

-- ---- route rules ----

local rules = {}

function rules.hash(entry, uid)
	local n = #entry.instances
	if n == 0 then
		return nil
	end
	if uid == nil then
		error("route \"hash\" needs a uid")
	end
	return entry.instances[router.hash(uid, n)]
end

function rules.space(entry, _, _, _, ctx)
	local space = ctx and ctx.space
	if space == nil then
		error("route \"space\" needs ctx.space")
	end
	return entry.spaces[space]
end

local function rule_of(name)
	local f = rules[name]
	if f == nil then
		f = require(name) -- a custom rule module
		if type(f) ~= "function" then
			error(string.format("route module %q must return a function", name))
		end
		rules[name] = f
	end
	return f
end

-- ---- the agent side ----

local cache = {} -- id -> { entry =, at = node ms }
local cache_ms = shoal.config("router_cache_ms")

function router.lookup(id)
	local c = cache[id]
	local now = shoal.now()
	if c and now - c.at < cache_ms then
		return c.entry
	end
	local entry = shoal.call(service(), "lua", "lookup", id)
	cache[id] = { entry = entry, at = now }
	return entry
end

-- The instances that handle id (a list of handles), maybe empty.
function router.instances(id)
	local e = router.lookup(id)
	return e and e.instances or {}
end

function router.route(uid, id, body, ctx)
	ctx = ctx or {}
	for _ = 1, 2 do
		local entry = router.lookup(id)
		if entry == nil then
			return false, string.format("no service handles protocol %s", tostring(id))
		end
		local ok, target = pcall(rule_of(entry.route), entry, uid, id, body, ctx)
		if not ok then
			return false, string.format("protocol %s: %s", tostring(id), tostring(target))
		end
		if target == nil then
			return false, string.format("protocol %s: no instance for uid %s", tostring(id), tostring(uid))
		end
		local called, reply, update = shoal.trycall(target, "lua", ROUTE_CMD, id, body, ctx, uid)
		if called then
			if type(update) == "table" then
				for k, v in pairs(update) do
					ctx[k] = v
				end
			end
			return true, reply
		end
		local code, why = reply, update -- a failed trycall: false, code, text
		if not DEAD[code] then
			return false, string.format("call %s failed: %s", shoal.address(target), why)
		end
		-- The instance is gone: forget it everywhere, then try the new list.
		pcall(shoal.call, service(), "lua", "unregister", target)
		cache = {}
	end
	return false, string.format("protocol %s: no live instance", tostring(id))
end

function router.decode(frame)
	if #frame < 2 then
		return nil, "frame shorter than a protocol id"
	end
	return string.unpack(">I2", frame), frame:sub(3)
end

function router.encode(id, body)
	return string.pack(">I2", id) .. (body or "")
end

-- A frame to the client of ctx, from anywhere (a logic service).
function router.reply(ctx, data)
	return require("shoal.gateserver").send(ctx.gate, ctx.conn, data)
end

-- ---- the logic side ----

local handlers = {} -- id -> fn(ctx, body, id)
local commands = {} -- opts.command of every register/serve call
local installed = false

-- Wraps the service's "lua" dispatch: routed messages go to the handlers,
-- opts.command names come next, the rest to the dispatch installed before.
local function install(command)
	for k, f in pairs(command or {}) do
		commands[k] = f
	end
	if installed then
		return
	end
	installed = true
	local prev
	prev = shoal.dispatch("lua", function(session, source, cmd, ...)
		if cmd == ROUTE_CMD then
			local id, body, ctx, uid = ...
			local f = handlers[id]
			if f == nil then
				error(string.format("router: protocol %s is not handled here", tostring(id)))
			end
			ctx = ctx or {}
			ctx.uid = uid
			return f(ctx, body, id)
		end
		local f = commands[cmd]
		if f then
			return f(...)
		end
		if prev then
			return prev(session, source, cmd, ...)
		end
		error("unknown command " .. tostring(cmd))
	end)
end

function router.handle(id, fn)
	handlers[id] = fn
	install()
end

local registered_exit = false

function router.register(ids, opts)
	opts = opts or {}
	install(opts.command)
	local v = shoal.call(service(), "lua", "register", shoal.self(), ids, {
		route = opts.route or "hash",
		spaces = opts.spaces,
	})
	if not registered_exit then
		registered_exit = true
		shoal.on_exit(function()
			pcall(shoal.call, service(), "lua", "unregister", shoal.self())
		end)
	end
	cache = {}
	return v
end

function router.serve(hs, opts)
	opts = opts or {}
	local ids = {}
	for id, fn in pairs(hs) do
		handlers[id] = fn
		ids[#ids + 1] = id
	end
	table.sort(ids)
	return router.register(ids, opts)
end

return router
