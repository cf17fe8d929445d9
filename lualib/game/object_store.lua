-- game/object_store.lua - the durable copy of a distributed object
-- (game/object.lua, docs/objects.md): a dbmgr entity (type, id) whose
-- value is the row {epoch =, node =, data = the packed state}, written
-- only by the owner of that epoch.
--
--   local store = require "game.object_store"
--   local st = store.new(".dbmgr", "guild")
--   st:read(id)                   -> row | nil (never saved) | nil, code, why
--   st:write(id, epoch, blob)     -> true | false, row_epoch (a newer owner wrote it) | nil, code, why
--   store.unpack(type, id, blob, from)  -> value | nil, INVAL, why
--
-- The fence: a write reads the row first and is refused when the row's
-- epoch is higher than the writer's. dbmgr has no conditional write, so
-- this is a read then a write (docs/objects.md "Known window"); a fenced
-- save in the dbmgr would make it one step.
local shoal = require "shoal"
local serial = require "shoal.serial"
local db = require "game.db"

local errors = shoal.errors
local store = {}
local st = {}
st.__index = st

function store.new(dbmgr, kind)
	return setmetatable({ db = db.new(dbmgr), type = kind }, st)
end

function st:read(id)
	local row, code, why = self.db:load(self.type, id)
	if row == nil then
		return nil, code, why -- never saved (code nil), or the dbmgr's error
	end
	if type(row) ~= "table" or math.type(row.epoch) ~= "integer" or type(row.data) ~= "string" then
		local why = string.format("object: %s %d: the database row is not an object's (no epoch)", self.type, id)
		shoal.warn(why)
		return nil, errors.INVAL, why
	end
	return row
end

function st:write(id, epoch, blob)
	local row, code, why = self:read(id)
	if row == nil and code ~= nil then
		return nil, code, why
	end
	if row and row.epoch > epoch then
		return false, row.epoch
	end
	return self.db:save(self.type, id, { epoch = epoch, node = shoal.config("node"), data = blob })
end

-- A state from the database or a lender, unpacked: a corrupt row or a bad
-- answer is an error, never a crash.
function store.unpack(kind, id, blob, from)
	local ok, v = pcall(serial.unpackstring, blob)
	if not ok or v == nil then
		local why = string.format("object: %s %d: the state from %s does not unpack (%s)", kind, id, from,
			tostring(v))
		shoal.warn(why)
		return nil, errors.INVAL, why
	end
	return v
end

return store
