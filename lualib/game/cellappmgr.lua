-- game/cellappmgr.lua - where every space lives (docs/cellappmgr.md):
-- the manager's logic (mgr.serve, run by service/cellappmgr.lua) and the
-- client that reaches the active one through the registry lease.
--
--   local mgr = require "game.cellappmgr"
--   local c = mgr.client { registry = r_or_addr, timeout = ms }
--   c:locate(space)            -> {space, handle, cellapp, epoch} | nil, code, why
--   c:migrate(space, cellapp)  -> {epoch, pause_ms, queued, from, to} | nil, code, why
--   c:spaces()                 -> {space = {cellapp, handle, epoch}, ...}
--   c:failover()               -> {counts = {event = n}, recent = {line, ...}}
--
-- Two instances run; the one holding the lease "cellappmgr" answers, the
-- other answers NOT_ACTIVE (shoal/lease.lua), exactly like baseappmgr. The
-- active one learns the live cellapps from the registry's watch (type
-- "cellapp", status {handle, entities, spaces, cpu, mem}), places a new
-- space on the least-loaded one (entities, then cpu, then id), and keeps
-- space -> {cellapp, epoch}; the epoch grows on every move, so a stale
-- route is refused. On taking the lease it rebuilds that map from the
-- live cellapps' own lists (their `spaces` command), never from memory.
-- On a cellapp's `dead` (or `leave`) event it recreates each of its spaces
-- on the least-loaded live cellapp from the newest copy: a peer's backup,
-- else the dbmgr snapshot, else (never snapshotted) an empty space.
local shoal = require "shoal"
local lease = require "shoal.lease"
local serial = require "shoal.serial"

local mgr = {}

mgr.LEASE = "cellappmgr"
mgr.NOT_ACTIVE = lease.NOT_ACTIVE
mgr.NO_MANAGER = lease.NO_ACTIVE
mgr.NO_CELLAPP = "no_cellapp" -- no live cellapp to place the space on
mgr.UNKNOWN_SPACE = "unknown_space" -- not a configured space name, and nowhere

local client = {}
client.__index = client

function mgr.client(opts)
	return setmetatable({ lease = lease.client(mgr.LEASE, opts) }, client)
end

function client:locate(name)
	return self.lease:call("locate", name)
end

function client:migrate(name, cellapp)
	return self.lease:call("migrate", name, cellapp)
end

function client:spaces()
	return self.lease:call("spaces")
end

function client:failover()
	return self.lease:call("failover")
end

-- ---- the manager

local M -- its state

local function now_ms()
	return shoal.now()
end

-- One structured line per failover step, counted and kept (the last 50).
local function step(event, fields)
	M.counts[event] = (M.counts[event] or 0) + 1
	local list = {}
	for _, k in ipairs { "space", "from", "to", "source", "version", "epoch", "ms", "why" } do
		if fields[k] ~= nil then
			list[#list + 1], list[#list + 2] = k, fields[k]
		end
	end
	local line = shoal.event("failover", event, list, event:find("fail") and "error" or "log")
	local r = M.recent
	r[#r + 1] = line
	if #r > 50 then
		table.remove(r, 1)
	end
end

-- The live cellapps, least loaded first (entities, then cpu, then id).
local function ranked(except)
	local list = {}
	for id, c in pairs(M.cellapps) do
		if id ~= except then
			list[#list + 1] = c
		end
	end
	table.sort(list, function(a, b)
		if a.entities ~= b.entities then
			return a.entities < b.entities
		end
		if a.cpu ~= b.cpu then
			return a.cpu < b.cpu
		end
		return a.id < b.id
	end)
	return list
end

local function least_loaded(except)
	return ranked(except)[1]
end

local function configured(name)
	return M.names[name] == true
end

local function space_opts(name)
	return { id = name, width = M.opts.width, height = M.opts.height, radius = M.opts.radius,
		max_speed = M.opts.max_speed }
end

local newest_copy -- (below)

local function route_of(name, r)
	return { space = name, handle = r.handle, cellapp = r.cellapp, epoch = r.epoch }
end

-- The space placed (or looked up while someone else places it: one
-- placement at a time per space).
local function place(name)
	local busy = M.placing[name]
	if busy then
		busy[#busy + 1] = coroutine.running()
		shoal.wait()
		return M.routes[name]
	end
	M.placing[name] = {}
	local c = least_loaded()
	local r
	if c then
		-- A space first asked for after a manager's failover may have a
		-- snapshot (its cellapp died while no manager was active): that, if any.
		local copy = newest_copy(name)
		local epoch = math.max(M.epochs[name] or 0, copy and copy.epoch or 0) + 1
		local ok, yes, why
		if copy and copy.peer then
			local got, blob = shoal.trycall(copy.peer.handle, "lua", "backup_blob", name)
			copy.blob = got and blob or nil
		end
		if copy and copy.blob then
			ok, yes, why = shoal.trycall(c.handle, "lua", "restore", name, copy.blob, epoch, true)
			step("space_recovered", { space = name, to = c.id, source = copy.peer and "peer" or "db",
				version = copy.version, epoch = epoch, why = "first_use" })
		else
			ok, yes, why = shoal.trycall(c.handle, "lua", "create", name, space_opts(name), epoch)
		end
		if ok and yes then
			r = { cellapp = c.id, handle = c.handle, epoch = epoch }
			M.routes[name], M.epochs[name] = r, epoch
			c.entities = c.entities + 1 -- until its next report: spread a burst of placements
			shoal.log(string.format("cellappmgr: space %s placed on cellapp %s (epoch %d)", name, c.id, epoch))
		else
			shoal.warn(string.format("cellappmgr: space %s: cellapp %s refused it: %s", name, c.id,
				tostring(ok and why or yes)))
		end
	end
	for _, co in ipairs(M.placing[name]) do
		shoal.wakeup(co)
	end
	M.placing[name] = nil
	return r
end

local command = {}

-- A new active manager first rebuilds the map from the cellapps
-- (rebuild, below); a command that came meanwhile waits for it: placing
-- a space the map does not show yet would make a second copy of one that
-- lives on a cellapp. The wait is bounded: rebuild's calls are.
local function map_ready()
	if M.rebuilding then
		M.rebuilding[#M.rebuilding + 1] = coroutine.running()
		shoal.wait()
	end
end

local function standby()
	return nil, mgr.NOT_ACTIVE, string.format("this cellappmgr is the standby (the active one: %s, epoch %d)",
		tostring(M.role.holder), M.role.epoch)
end

function command.locate(name)
	map_ready()
	if not M.role.active then
		return standby()
	end
	if type(name) ~= "string" then
		return nil, mgr.UNKNOWN_SPACE, "a space name is a string"
	end
	local r = M.routes[name]
	if r == nil or M.recovering[name] then
		if M.recovering[name] then
			return nil, mgr.NO_CELLAPP, "space " .. name .. " is being recovered"
		end
		if not configured(name) then
			return nil, mgr.UNKNOWN_SPACE, "no space " .. name
		end
		r = place(name)
		if r == nil then
			return nil, mgr.NO_CELLAPP, "no live cellapp took space " .. name
		end
	end
	return route_of(name, r)
end

function command.spaces()
	map_ready()
	if not M.role.active then
		return standby()
	end
	local out = {}
	for name, r in pairs(M.routes) do
		out[name] = { cellapp = r.cellapp, handle = r.handle, epoch = r.epoch }
	end
	return out
end

function command.failover()
	return { counts = M.counts, recent = M.recent }
end

function command.state()
	local n = 0
	for _ in pairs(M.routes) do
		n = n + 1
	end
	return { active = M.role.active, epoch = M.role.epoch, id = M.id, holder = M.role.holder, spaces = n }
end

-- Live migration: freeze on the source, snapshot, restore on the target,
-- switch the route (epoch + 1), hand the queued messages on; the pause is
-- from the freeze to the hand-off.
function command.migrate(name, target_id)
	map_ready()
	if not M.role.active then
		return standby()
	end
	local r = M.routes[name]
	if r == nil then
		return nil, mgr.UNKNOWN_SPACE, "no space " .. tostring(name)
	end
	local t
	if target_id ~= nil then
		t = M.cellapps[tostring(target_id)]
	else
		t = least_loaded(r.cellapp)
	end
	if t == nil or t.id == r.cellapp then
		return nil, mgr.NO_CELLAPP, "no other live cellapp " .. tostring(target_id)
	end
	if M.recovering[name] then
		return nil, mgr.NO_CELLAPP, "space " .. name .. " is moving already"
	end
	M.recovering[name] = true
	local t0 = now_ms()
	local function done(...)
		M.recovering[name] = nil
		return ...
	end
	local ok, blob, version = shoal.trycall(r.handle, "lua", "freeze", name)
	if not ok or blob == nil then
		return done(nil, mgr.NO_CELLAPP, "the source did not freeze: " .. tostring(ok and version or blob))
	end
	local epoch = r.epoch + 1
	local ok2, yes, why = shoal.trycall(t.handle, "lua", "restore", name, blob, epoch)
	if not ok2 or not yes then
		shoal.trycall(r.handle, "lua", "unfreeze", name)
		return done(nil, mgr.NO_CELLAPP, "the target did not restore: " .. tostring(ok2 and why or yes))
	end
	local from = r.cellapp
	M.routes[name], M.epochs[name] = { cellapp = t.id, handle = t.handle, epoch = epoch }, epoch
	local ok3, queued = shoal.trycall(r.handle, "lua", "handoff", name, t.handle, epoch)
	local pause = now_ms() - t0
	M.pauses[#M.pauses + 1] = pause
	shoal.log(string.format("cellappmgr: space %s migrated %s -> %s (epoch %d, version %d, %s queued, pause %d ms)",
		name, from, t.id, epoch, version, tostring(ok3 and queued), pause))
	return done { epoch = epoch, pause_ms = pause, queued = ok3 and queued or 0, from = from, to = t.id }
end

-- ---- recovery of a dead cellapp's spaces

-- Whether copy a {epoch, version} is newer than b: the higher epoch (a
-- stale copy, from a cellapp that woke up after its space was recovered
-- elsewhere, has a lower one), then the higher version.
local function newer(a, b)
	return b == nil or a.epoch > b.epoch or (a.epoch == b.epoch and a.version > b.version)
end

-- The newest copy of a space: {version, epoch, peer = cellapp} from the
-- live cellapps' backups, or the dbmgr snapshot's {version, epoch, blob}.
function newest_copy(name)
	local best
	for _, c in pairs(M.cellapps) do
		local ok, version, epoch = shoal.trycall(c.handle, "lua", "backup_info", name)
		if ok and math.type(version) == "integer" and math.type(epoch) == "integer" then
			local copy = { version = version, epoch = epoch, peer = c }
			if newer(copy, best) then
				best = copy
			end
		end
	end
	if M.db then
		local blob = M.db:load("space", require("game.cellapp").db_id(name))
		if type(blob) == "string" then
			local ok, t = pcall(serial.unpackstring, blob)
			if ok and type(t) == "table" and math.type(t.version) == "integer" and math.type(t.epoch) == "integer" then
				local copy = { version = t.version, epoch = t.epoch, blob = blob }
				if newer(copy, best) then
					best = copy
				end
			end
		end
	end
	return best
end

local function recover(name, from)
	local t0 = now_ms()
	M.recovering[name] = true
	local old = M.routes[name]
	local tries = 0
	while M.role.active do
		tries = tries + 1
		local t = least_loaded(from)
		if t == nil then
			step("recover_fail", { space = name, from = from, why = "no_live_cellapp" })
			break
		end
		local copy = newest_copy(name)
		local epoch = math.max(M.epochs[name] or 0, old and old.epoch or 0, copy and copy.epoch or 0) + 1
		local ok, yes, why, source
		if copy and copy.peer == t then
			source = "peer"
			ok, yes, why = shoal.trycall(t.handle, "lua", "restore_backup", name, epoch)
		elseif copy then
			local blob = copy.blob
			source = "db"
			if copy.peer then
				source = "peer"
				local got
				got, blob = shoal.trycall(copy.peer.handle, "lua", "backup_blob", name)
				blob = got and blob or nil
			end
			if blob then
				ok, yes, why = shoal.trycall(t.handle, "lua", "restore", name, blob, epoch, true)
			end
		else
			source = "empty"
			ok, yes, why = shoal.trycall(t.handle, "lua", "create", name, space_opts(name), epoch)
		end
		if ok and yes then
			M.routes[name], M.epochs[name] = { cellapp = t.id, handle = t.handle, epoch = epoch }, epoch
			t.entities = t.entities + 1
			step("space_recovered", { space = name, from = from, to = t.id, source = source,
				version = copy and copy.version or 0, epoch = epoch, ms = now_ms() - t0 })
			break
		end
		step("recover_retry", { space = name, from = from, to = t.id, source = source,
			why = tostring(ok and why or yes):gsub("%s", "_") })
		if tries >= 5 then
			step("recover_fail", { space = name, from = from, why = "gave_up" })
			break
		end
		shoal.sleep(100 * tries)
	end
	M.recovering[name] = nil
end

local function cellapp_lost(id, why)
	local lost = {}
	for name, r in pairs(M.routes) do
		if r.cellapp == id then
			lost[#lost + 1] = name
		end
	end
	if #lost == 0 or not M.role.active then
		return
	end
	table.sort(lost)
	step("cellapp_dead", { from = id, why = why })
	for _, name in ipairs(lost) do
		shoal.fork(recover, name, id)
	end
end

-- One cellapp component (the watch's list or an event).
local function learn(c)
	local id = tostring(c.id)
	if c.event == "leave" or c.state == "dead" then
		if M.cellapps[id] then
			M.cellapps[id] = nil
			cellapp_lost(id, c.event == "leave" and "leave" or "dead")
		end
		return
	end
	local st = c.status or {}
	local h = math.tointeger(st.handle)
	if h == nil then
		return
	end
	M.cellapps[id] = { id = id, handle = h, inc = c.inc, entities = math.tointeger(st.entities) or 0,
		cpu = tonumber(st.cpu) or 0 }
end

-- A new active manager rebuilds the map from the live cellapps' own
-- lists; two cellapps claiming a space (a frozen one not yet declared
-- dead): the higher epoch wins and the other is told to drop it.
local function rebuild()
	local waiting = M.rebuilding or {}
	M.rebuilding = waiting
	local routes = {}
	for id, c in pairs(M.cellapps) do
		local ok, list = shoal.trycall(c.handle, "lua", "spaces")
		if ok and type(list) == "table" then
			for name, s in pairs(list) do
				local r = routes[name]
				if r == nil or s.epoch > r.epoch then
					if r then
						shoal.send(r.handle, "lua", "drop", name)
					end
					routes[name] = { cellapp = id, handle = c.handle, epoch = s.epoch }
				elseif r then
					shoal.send(c.handle, "lua", "drop", name)
				end
			end
		end
	end
	M.routes = routes
	local n = 0
	for name, r in pairs(routes) do
		M.epochs[name] = math.max(M.epochs[name] or 0, r.epoch)
		n = n + 1
	end
	step("cellappmgr_active", { epoch = M.role.epoch, why = "spaces_" .. n })
	M.rebuilding = nil
	for _, co in ipairs(waiting) do
		shoal.wakeup(co)
	end
end

-- What the debug console's `spaces` and `failover` show of this manager:
-- where each space lives (the cellapps count the spaces themselves).
local function reports()
	local report = require "game.report"
	report.provide("spaces", function()
		local names = {}
		for name in pairs(M.routes) do
			names[#names + 1] = name
		end
		table.sort(names)
		local lines = { string.format("cellappmgr %s (%s, lease epoch %d): %d spaces placed", tostring(M.id),
			M.role.active and "active" or "standby", M.role.epoch or 0, #names) }
		for _, name in ipairs(names) do
			local r = M.routes[name]
			lines[#lines + 1] = string.format("  space %s on cellapp %s epoch %d", name, tostring(r.cellapp), r.epoch)
		end
		return lines, 0
	end)
	report.provide("failover", function()
		local lines = { string.format("cellappmgr %s: %d recent failover steps", tostring(M.id), #M.recent) }
		for _, l in ipairs(M.recent) do
			lines[#lines + 1] = "  " .. l
		end
		return lines, #M.recent
	end)
end

function mgr.serve(registry_addr, my_id)
	M = {
		cellapps = {}, -- id -> {id, handle, inc, entities, cpu}
		routes = {}, -- space -> {cellapp, handle, epoch}
		epochs = {}, -- space -> the last epoch given (never reused)
		placing = {}, -- space -> coroutines waiting for its placement
		recovering = {}, -- space -> true while moved or recovered
		counts = {}, -- failover event -> n
		recent = {}, -- the last failover lines
		pauses = {},
		role = { active = false, epoch = 0 },
		names = {},
		opts = { width = shoal.config("world_width"), height = shoal.config("world_height"),
			radius = shoal.config("world_radius"), max_speed = shoal.config("world_max_speed") },
	}
	for n in shoal.config("world_spaces"):gmatch("[^,%s]+") do
		M.names[n] = true
	end
	local dbmgr = shoal.config("cellapp_dbmgr")
	M.db = dbmgr ~= "" and require("game.db").new(dbmgr) or nil
	shoal.dispatch_commands(command)
	reports()
	local r
	registry_addr = registry_addr or shoal.config("cellappmgr_registry")
	if registry_addr ~= "" then
		r = require("shoal.registry").new(registry_addr)
	else
		r = require("cluster").registry()
	end
	for _, c in ipairs(r:watch({ type = "cellapp" }, learn)) do
		learn(c)
	end
	M.id = my_id or tostring(shoal.config("node"))
	lease.serve(mgr.LEASE, {
		registry = r,
		id = M.id,
		active = function(epoch)
			M.role.active, M.role.epoch, M.role.holder = true, epoch, M.id
			shoal.log(string.format("cellappmgr %s: active (lease epoch %d)", M.id, epoch))
			rebuild()
		end,
		standby = function(holder, epoch)
			M.role.active, M.role.epoch, M.role.holder = false, epoch, holder and tostring(holder.id)
			shoal.log(string.format("cellappmgr %s: standby (active: %s, lease epoch %d)", M.id,
				tostring(M.role.holder), epoch))
		end,
	})
end

return mgr
