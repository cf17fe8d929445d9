-- baseappmgr [registry [id]]: chooses the baseapp that takes a player
-- (lualib/game/balance.lua, docs/baseappmgr.md). Keeps the live list of
-- baseapps from the registry's watch events (type "baseapp": join, status,
-- suspect, dead, leave) and answers, in the "lua" protocol:
--   pick(account)      -> {id, node, host, port, epoch, mgr} | nil, code, why (epoch: of the lease;
--                         mgr: this instance's id)
--                         (code: balance.NO_BASEAPP/OVER_CAPACITY, mgr.NOT_ACTIVE on the standby)
--   candidates()       -> {{id, host, port, online, mem, healthy}, ...} best first
--   capacity()         -> {live, full, over}
--   subscribe(handle)  capacity events: handle gets "capacity", {live, full, over} (one-way "lua")
--                      each time over changes
--   state()            -> {active, epoch, id, holder} (holder: the active one's id, or nil)
-- Active/standby: it registers as component {type = "baseappmgr", id =
-- id (default the node id), status handle = this service} and holds the
-- registry lease "baseappmgr" (lease.serve, shoal/lease.lua); only the
-- holder answers picks. Callers reach it with game/baseappmgr.lua's pick.
-- registry: the registry's handle or name (default: the cluster's, through clusterd).
local shoal = require "shoal"
local balance = require "game.balance"
local mgr = require "game.baseappmgr"
local lease = require "shoal.lease"

local registry_addr, my_id = ...

local b = balance.new(balance.config(shoal.config))
local known = {} -- id -> record, in no order
local list = {} -- the records, sorted by id (rebuilt on change)
local over = false -- every live baseapp is full (the last capacity event)
local subscribers = {} -- handle -> true
local role = { active = false, epoch = 0, holder = nil } -- the lease as last learnt

local function rebuild()
	list = {}
	for _, rec in pairs(known) do
		list[#list + 1] = rec
	end
	table.sort(list, function(x, y)
		return x.id < y.id
	end)
end

-- An alert and a capacity event when "every baseapp is full" changes.
local function check_capacity()
	local cap = b:capacity(list)
	if cap.over == over then
		return cap
	end
	over = cap.over
	if over then
		shoal.error(string.format("ALERT baseappmgr: over capacity: all %d live baseapps are full", cap.live))
	else
		shoal.log(string.format("baseappmgr: capacity back: %d of %d live baseapps have room", cap.live - cap.full,
			cap.live))
	end
	for h in pairs(subscribers) do
		if not shoal.send(h, "lua", "capacity", cap) then
			subscribers[h] = nil
		end
	end
	return cap
end

-- One component (from the watch's snapshot or an event).
local function learn(c)
	local id = tostring(c.id)
	if c.event == "leave" or c.state == "dead" then
		known[id] = nil
		b:reported(id)
	else
		local rec, err = balance.from_registry(c)
		if rec then
			known[id] = rec
			b:reported(id) -- its online count is fresh
		else
			known[id] = nil
			shoal.warn("baseappmgr: " .. err)
		end
	end
	rebuild()
	check_capacity()
end

local command = {}

function command.pick(account)
	if not role.active then
		return nil, mgr.NOT_ACTIVE, string.format("this baseappmgr is the standby (the active one: %s, epoch %d)",
			tostring(role.holder), role.epoch)
	end
	local rec, code, why = b:pick(list, account)
	if not rec then
		if code == balance.OVER_CAPACITY then
			check_capacity()
		end
		return nil, code, why
	end
	return { id = rec.id, node = rec.node, host = rec.host, port = rec.port, epoch = role.epoch, mgr = my_id }
end

function command.state()
	return { active = role.active, epoch = role.epoch, id = my_id, holder = role.holder }
end

function command.candidates()
	return b:candidates(list)
end

function command.capacity()
	return b:capacity(list)
end

function command.subscribe(handle)
	subscribers[handle] = true
	return b:capacity(list)
end

shoal.start(function()
	shoal.dispatch_commands(command)
	local r
	if registry_addr then
		r = require("shoal.registry").new(registry_addr)
	else
		r = require("cluster").registry()
	end
	for _, c in ipairs(r:watch({ type = "baseapp" }, learn)) do
		learn(c)
	end
	-- The standby keeps the same live list, so it serves at once when it
	-- takes over. Its own registration is the life that holds the lease.
	my_id = my_id or tostring(shoal.config("node"))
	lease.serve(mgr.LEASE, {
		registry = r,
		id = my_id,
		active = function(epoch)
			role.active, role.epoch, role.holder = true, epoch, my_id
			shoal.log(string.format("baseappmgr %s: active (lease epoch %d)", my_id, epoch))
		end,
		standby = function(holder, epoch)
			role.active, role.epoch, role.holder = false, epoch, holder and tostring(holder.id)
			shoal.log(string.format("baseappmgr %s: standby (active: %s, lease epoch %d)", my_id,
				tostring(role.holder), epoch))
		end,
	})
end)
