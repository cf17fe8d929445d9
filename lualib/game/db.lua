-- game/db.lua - the game's database, through the dbmgr service
-- (cservice/dbmgr.c; every command, limit and error in docs/dbmgr.md).
--
--   local db = require "game.db"
--   local d = db.new(".dbmgr")        -- the dbmgr's handle or name (default ".dbmgr");
--   db.new(addr, {read_timeout_ms = 200})  -- reads time out sooner than db_read_timeout_ms
--   db.new(addr, {write_timeout_ms = db.until_node_lost_ms()})  -- writes outlast the harbor's verdict
--
-- Accounts
--   d:create_account(name, hash)      -> id | nil, code, text (code NAMEEXIST: the name is taken)
--   d:account(name)                   -> {id =, name =, hash =} | nil (no such account)
--   d:set_password(id, hash)          -> true | false (no such account)
-- Entities: any value the serializer takes (a table, usually), by (type, id)
--   d:save(type, id, value)           -> true      (acknowledged: committed to the database)
--   d:save_fenced(type, id, value, account, epoch) -> true, epoch | false, current_epoch
--                                        (written only while the account's directory row has epoch: a
--                                        session's saves after the account moved on are refused)
--   d:load(type, id)                  -> value | nil (never saved)
--   d:delete(type, id)                -> true | false (there was none)
--   d:declare_index(type, column)     value[column] of every later save is indexed
--   d:query(type, column, lo [, hi [, limit]])  -> { {id =, value =}, ... } with lo <= value[column] <= hi
--                                        (hi nil: = lo), ordered by that column, at most limit (100)
-- The account directory (who is online where, fenced by an epoch)
--   d:directory(account)              -> {epoch =, baseapp =, state =} | nil (no such account)
--   d:cas_login(account, expected_epoch, baseapp)  -> true, new_epoch | false, current_epoch
--                                        (state becomes "logging_in")
--   d:set_state(account, epoch, state) -> true, epoch | false, current_epoch (a stale epoch is refused)
--   d:release(baseapp)                -> n: every session baseapp held is set offline (epochs kept; the
--                                        failover service, once the registry declared it dead)
--
-- Every function returns nil, code, text on a failure (code one of
-- shoal.errors: INVAL bad input, TOOBIG a value over db_max_value_kb, FULL
-- the dbmgr's queue is full, TIMEOUT a read not answered within
-- db_read_timeout_ms, EXITING/NOSERVICE the dbmgr is gone), so a caller
-- acts on the code, never on the text. Bad argument types in Lua raise.

local shoal = require "shoal"
local serial = require "shoal.serial"

local db = {}
local client = {}
client.__index = client

local errors = shoal.errors

-- A write's timeout that outlasts the harbor's verdict on a silent node
-- (heartbeat_ms x heartbeat_misses) by call_timeout: to a frozen dbmgr's
-- node the write then fails with NODEDOWN (whatever sat in the link's
-- buffers is lost with it: make it again), while a TIMEOUT means a live
-- dbmgr has it queued (its database away) and it lands when it is back.
-- With the plain call timeout the two race when they are equal.
function db.until_node_lost_ms()
	return shoal.config("call_timeout") + shoal.config("heartbeat_ms") * shoal.config("heartbeat_misses")
end

function db.new(addr, opts)
	return setmetatable({
		addr = addr or ".dbmgr",
		read_ms = opts and opts.read_timeout_ms or shoal.config("db_read_timeout_ms"),
		write_ms = opts and opts.write_timeout_ms or shoal.config("call_timeout"),
		columns = {}, -- entity type -> list of indexed columns (cached)
	}, client)
end

-- A write: waits for the commit (bounded by the write timeout).
local function write(self, ...)
	local r = table.pack(shoal.trycalltimeout(self.write_ms, self.addr, "lua", ...))
	if not r[1] then
		return nil, r[2], r[3]
	end
	return table.unpack(r, 2, r.n)
end

-- A read: fails with TIMEOUT after db_read_timeout_ms.
local function read(self, ...)
	local r = table.pack(shoal.trycalltimeout(self.read_ms, self.addr, "lua", ...))
	if not r[1] then
		return nil, r[2], r[3]
	end
	return table.unpack(r, 2, r.n)
end

-- ---- accounts

function client:create_account(name, hash)
	return write(self, "account_create", name, hash)
end

function client:account(name)
	local id, hash, text = read(self, "account_get", name)
	if id == nil then
		return nil, hash, text -- absent (hash nil) or an error
	end
	return { id = id, name = name, hash = hash }
end

function client:set_password(id, hash)
	return write(self, "account_set_password", id, hash)
end

-- ---- entities

-- The indexed columns of type, asked once per service.
local function columns(self, type)
	local cols = self.columns[type]
	if cols == nil then
		local list, code, text = read(self, "index_list", type)
		if list == nil then
			return nil, code, text
		end
		cols = list
		self.columns[type] = cols
	end
	return cols
end

-- The indexed columns of type (a list of names; asked of the dbmgr the
-- first time, then cached in this client), or nil, code, text.
function client:index_columns(type)
	return columns(self, type)
end

-- Seeds this client's cache with columns another client of the same
-- dbmgr learnt (a baseapp hands its agents the player's at ENTER): the
-- first save is then a write alone, which queues through a database
-- outage instead of failing on the read of the column list.
function client:set_index_columns(type, cols)
	assert(_G.type(cols) == "table", "db:set_index_columns: a list of column names is required")
	self.columns[type] = cols
end

local function indexable(v)
	local t = math.type(v)
	return t ~= nil or type(v) == "string"
end

-- fence: nil (entity_save) or {account, epoch} (entity_save_fenced).
local function save(self, type, id, value, fence)
	local cols, code, text = columns(self, type)
	if cols == nil then
		return nil, code, text
	end
	local blob = serial.packstring(value)
	local args, n
	if fence then
		args, n = { "entity_save_fenced", type, id, blob, fence[1], fence[2] }, 6
	else
		args, n = { "entity_save", type, id, blob }, 4
	end
	local tbl = _G.type(value) == "table"
	for _, col in ipairs(cols) do
		local v = tbl and value[col] or nil
		args[n + 1], args[n + 2] = col, indexable(v) and v or nil
		n = n + 2
	end
	return write(self, table.unpack(args, 1, n))
end

function client:save(type, id, value)
	return save(self, type, id, value)
end

function client:save_fenced(type, id, value, account, epoch)
	return save(self, type, id, value, { account, epoch })
end

function client:load(type, id)
	local blob, code, text = read(self, "entity_load", type, id)
	if blob == nil then
		return nil, code, text
	end
	return serial.unpackstring(blob)
end

function client:delete(type, id)
	return write(self, "entity_delete", type, id)
end

function client:declare_index(type, column)
	local ok, code, text = write(self, "index_declare", type, column)
	self.columns[type] = nil -- asked again at the next save
	return ok, code, text
end

function client:query(type, column, lo, hi, limit)
	local rows, code, text = read(self, "entity_query", type, column, lo, hi, limit or 100)
	if rows == nil then
		return nil, code, text
	end
	local out = {}
	for i = 1, #rows, 2 do
		out[#out + 1] = { id = rows[i], value = serial.unpackstring(rows[i + 1]) }
	end
	return out
end

-- ---- the account directory

function client:directory(account)
	local epoch, baseapp, state = read(self, "dir_get", account)
	if epoch == nil then
		return nil, baseapp, state
	end
	return { epoch = epoch, baseapp = baseapp, state = state }
end

function client:cas_login(account, expected_epoch, baseapp)
	return write(self, "cas_login", account, expected_epoch, baseapp)
end

function client:set_state(account, epoch, state)
	return write(self, "dir_set_state", account, epoch, state)
end

function client:release(baseapp)
	return write(self, "dir_release", baseapp)
end

-- The raw request (tests, tools): -> true, reply... | false, code, text
function client:request(...)
	return shoal.trycall(self.addr, "lua", ...)
end

db.errors = errors
return db
