-- game/backup.lua - peer backups of player entities (docs/failover.md,
-- "Peer backups"). Pure tables, no messages: the baseapp
-- (lualib/game/baseapp.lua) sends what this module hands it.
--
-- Each baseapp keeps, as the origin, the latest copy of each of its live
-- sessions' entities and which of them changed since the last flush; every
-- baseapp_backup_ms it sends the changed ones to its peer (the next live
-- baseapp in the ring of ids). As the peer, it holds the copies other
-- baseapps sent it, at most `max` of them, until the origin drops them (the
-- session ended with a save) or the failover service has them saved.
--
--   local backup = require "game.backup"
--   local b = backup.new { max = 100000 }
--   -- origin side
--   b:offer(account, epoch, version, entity)  a session's entity changed
--   b:drop(account)                           the session ended with a save
--   b:pending() -> list                       what changed since the last call ({account, epoch, version,
--                                             entity} or {account, drop = true})
--   b:everything() -> list                    every live copy (a new peer gets them all)
--   -- peer side
--   b:store(origin, list) -> kept, refused    records from origin (refused: past max)
--   b:get(account) -> record | nil            {origin, account, epoch, version, entity}
--   b:of_origin(origin) -> list               the records origin sent
--   b:forget(account, epoch)                  a record of that epoch (or older) is gone
--   b:count() -> n                            records held as a peer
--   backup.peer_of(self_id, ids) -> id | nil  the next id after self_id in sorted order, wrapping

local backup = {}
local B = {}
B.__index = B

function backup.new(opts)
	return setmetatable({
		max = opts and opts.max or 100000,
		copies = {}, -- account -> {account, epoch, version, entity} (origin side)
		changed = {}, -- account -> true: to send at the next flush (a drop when no copy is left)
		held = {}, -- account -> {origin, account, epoch, version, entity} (peer side)
		n = 0, -- #held
	}, B)
end

function backup.peer_of(self_id, ids)
	local sorted = {}
	for _, id in ipairs(ids) do
		if id ~= self_id then
			sorted[#sorted + 1] = id
		end
	end
	table.sort(sorted)
	for _, id in ipairs(sorted) do
		if id > self_id then
			return id
		end
	end
	return sorted[1]
end

-- ---- origin side

function B:offer(account, epoch, version, entity)
	self.copies[account] = { account = account, epoch = epoch, version = version, entity = entity }
	self.changed[account] = true
end

function B:drop(account)
	if self.copies[account] then
		self.copies[account] = nil
		self.changed[account] = true
	end
end

function B:pending()
	local out = {}
	for account in pairs(self.changed) do
		out[#out + 1] = self.copies[account] or { account = account, drop = true }
	end
	self.changed = {}
	return out
end

function B:everything()
	local out = {}
	for _, rec in pairs(self.copies) do
		out[#out + 1] = rec
	end
	self.changed = {}
	return out
end

-- ---- peer side

function B:store(origin, list)
	local kept, refused = 0, 0
	for _, rec in ipairs(list) do
		local old = self.held[rec.account]
		if rec.drop then
			if old and old.origin == origin then
				self.held[rec.account] = nil
				self.n = self.n - 1
			end
		elseif old == nil and self.n >= self.max then
			refused = refused + 1
		elseif old == nil or old.epoch < rec.epoch or (old.epoch == rec.epoch and old.version <= rec.version) then
			if old == nil then
				self.n = self.n + 1
			end
			self.held[rec.account] = { origin = origin, account = rec.account, epoch = rec.epoch,
				version = rec.version, entity = rec.entity }
			kept = kept + 1
		end
	end
	return kept, refused
end

function B:get(account)
	return self.held[account]
end

function B:of_origin(origin)
	local out = {}
	for _, rec in pairs(self.held) do
		if rec.origin == origin then
			out[#out + 1] = rec
		end
	end
	table.sort(out, function(a, b)
		return a.account < b.account
	end)
	return out
end

function B:forget(account, epoch)
	local rec = self.held[account]
	if rec and rec.epoch <= epoch then
		self.held[account] = nil
		self.n = self.n - 1
	end
end

function B:count()
	return self.n
end

return backup
