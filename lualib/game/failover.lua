-- game/failover.lua - what the cluster does when the registry declares a
-- component dead (docs/failover.md). service/failover.lua runs it on the
-- managers' nodes. It decides nothing about death itself: the registry is
-- the one failure detector, and this reacts to its events.
--
--   local failover = require "game.failover"
--   local f = failover.new { dbmgr = "dbmgr", recent = 64 }
--   f:on_component(event)   -- a registry watch event (type baseapp or node)
--   f:on_lease(lease)       -- a registry lease event (baseappmgr, cellappmgr, ...)
--   f:recent(n)             -- the last n events, newest last: {{at_ms, event, line}, ...}
--   f:counts()              -- {event = n}
--
-- Each step is one log line `failover: event=NAME k=v ...` and a counter:
--   baseapp_dead   id, sessions (released in the directory), peer (the
--                  baseapps that saved its backups), saved, stale (backups
--                  of players who had resumed elsewhere: refused by the
--                  fence), ms (from the event to the end of the step)
--   dbmgr_dead     node: writes pause in dbmgr's callers until it is back
--   dbmgr_back     node
--   node_dead      node, tags (any other node)
--   lease          name, holder (id, node) or "none": which standby took over
-- Every action is idempotent (a second failover service, or the same
-- event twice, finds nothing left to do), so two instances do no harm.

local shoal = require "shoal"
local db = require "game.db"
local handle_of = require("game.account").baseapp_handle
local metrics = require "shoal.metrics"

local failovers -- made with the first failover.new: a shoal.metrics counter

local failover = {}
local F = {}
F.__index = F

function failover.new(opts)
	failovers = failovers or metrics.counter("shoal_failover_events_total",
		"Failover steps the failover services of the node took, by event (docs/failover.md).", { "event" })
	return setmetatable({
		db = db.new(opts.dbmgr),
		keep = opts.recent or 64,
		call_ms = opts.call_ms or 3000,
		events = {}, -- ring of the last `keep` events
		count = {},
		baseapps = {}, -- id -> true while alive (saw join/status), for the backup_save round
		done = {}, -- "type/id/inc" handled already (a repeated event)
	}, F)
end

-- One structured line: event=NAME then the fields in the order given.
function F:event(name, fields)
	local line = shoal.event("failover", name, fields)
	self.count[name] = (self.count[name] or 0) + 1
	failovers:inc(1, name)
	local ev = self.events
	ev[#ev + 1] = { at_ms = math.floor(shoal.time() * 1000), event = name, line = line }
	if #ev > self.keep then
		table.remove(ev, 1)
	end
	return line
end

-- A dead baseapp: the backups it kept on its peer are saved (fenced: a
-- player who already resumed elsewhere keeps the newer state), then its
-- sessions are released in the directory, so that a password login does
-- not wait for a kick the dead one cannot answer. Every live baseapp is
-- asked (backup_save is a no-op where there are none): the peer is the one
-- that answers with a count.
function F:baseapp_dead(id)
	local t0 = shoal.now()
	self.baseapps[id] = nil
	local saved, stale, failed, peers = 0, 0, 0, {}
	for other in pairs(self.baseapps) do
		local h = handle_of(other)
		if h then
			local ok, s, st, f = shoal.trycalltimeout(self.call_ms, h, "lua", "backup_save", id)
			if ok and (s > 0 or st > 0 or f > 0) then
				peers[#peers + 1] = other
				saved, stale, failed = saved + s, stale + st, failed + f
			end
		end
	end
	local released, code = self.db:release(id)
	if released == nil then
		released = "unavailable:" .. tostring(shoal.errname(code) or code)
	end
	table.sort(peers)
	return self:event("baseapp_dead", { "id", id, "sessions", released, "peer", #peers > 0 and table.concat(peers, ",")
		or "none", "saved", saved, "stale", stale, "unsaved", failed, "ms", shoal.now() - t0 })
end

local function has(tags, want)
	for _, t in ipairs(tags or {}) do
		if t == want then
			return true
		end
	end
	return false
end

function F:on_component(c)
	local key = string.format("%s/%s/%s", tostring(c.type), tostring(c.id), tostring(c.inc))
	if c.type == "baseapp" then
		if c.state == "dead" and c.event ~= "leave" then
			if not self.done[key] then
				self.done[key] = true
				return self:baseapp_dead(tostring(c.id))
			end
		elseif c.event == "leave" then
			self.baseapps[tostring(c.id)] = nil
		else
			self.baseapps[tostring(c.id)] = true
		end
	elseif c.type == "node" then
		local dbmgr = has(c.tags, "dbmgr")
		if c.state == "dead" and not self.done[key] then
			self.done[key] = true
			if dbmgr then
				self.down = self.down or {}
				self.down[tostring(c.id)] = true
				return self:event("dbmgr_dead", { "node", c.id, "alert", "writes pause and are retried by their callers" })
			end
			return self:event("node_dead", { "node", c.id, "tags", table.concat(c.tags or {}, ",") })
		elseif c.event == "join" and dbmgr and self.down and self.down[tostring(c.id)] then
			self.down[tostring(c.id)] = nil
			return self:event("dbmgr_back", { "node", c.id })
		end
	end
end

function F:on_lease(l)
	local h = l.holder
	local holder = h and string.format("%s/%s@node%s", tostring(h.type), tostring(h.id), tostring(h.node)) or "none"
	local key = string.format("lease/%s/%s/%s", tostring(l.name), tostring(l.epoch), holder)
	if self.done[key] then
		return
	end
	self.done[key] = true
	return self:event("lease", { "name", l.name, "epoch", l.epoch, "holder", holder })
end

function F:recent(n)
	n = math.min(n or self.keep, #self.events)
	local out = {}
	for i = #self.events - n + 1, #self.events do
		out[#out + 1] = self.events[i]
	end
	return out
end

function F:counts()
	local out = {}
	for k, v in pairs(self.count) do
		out[k] = v
	end
	return out
end

return failover
