-- game/account.lua - the account manager: where an account plays, and
-- messages to it, from Lua on any node (iFun Engine's account manager;
-- docs/baseapp.md "Account manager").
--
--   local account = require "game.account"
--   local am = account.new()     -- or account.new { dbmgr = ".dbmgr", registry = ".registry" }
--   am:locate(id)                -> {node =, baseapp =, epoch =, state =} | nil (offline or unknown)
--   am:send(id, body)            -> true | false, why  (body: a message of docs/protocol.md, e.g.
--                                   proto.encode("CHAT", 0, "server", "hello"))
--   am:kick(id [, code])         -> true | false, why  (KICK code, default LOGGED_IN_ELSEWHERE; saved)
--   am:broadcast(body [, scope]) -> n baseapps reached; scope "node" (this node's baseapps),
--                                   "cluster" (default) or {tag = "eu"} (baseapps of nodes with the tag)
--   am:redirect(id, to, extra)   -> true | false, why: moves the client to baseapp `to` (an id, or a
--                                   node id); the target's baseapp_redirect_to service gets
--                                   "redirected", id, ok, extra
--   am:check_and_set_logged_in(id, expected_epoch, baseapp) -> true, epoch | false, current_epoch
--   am:set_logged_out(id, epoch) -> true, epoch | false, current_epoch (a stale epoch is refused)
--
-- The source of truth is the account directory in dbmgr (epoch, baseapp,
-- state); the baseapps are found in the registry (type "baseapp"; the id
-- is the baseapp service's handle in hex, which carries its node). A
-- message to an account that moved meanwhile is dropped by the old
-- baseapp (send answers false): at most once, like every message here.
-- Every function waits at most the call timeout.

local shoal = require "shoal"
local db = require "game.db"
local proto = require "game.proto"

local account = {}
local mt = { __index = account }
local C = proto.codes

function account.new(opts)
	opts = opts or {}
	local reg = opts.registry or shoal.config("baseapp_registry")
	return setmetatable({
		db = db.new(opts.dbmgr or shoal.config("baseapp_dbmgr")),
		registry_addr = reg ~= "" and reg or nil,
	}, mt)
end

-- A baseapp's id (in the registry and the directory) is its service's
-- handle in hex: -> the handle, or nil for anything else.
function account.baseapp_handle(id)
	local h = type(id) == "string" and #id <= 8 and id:match("^%x+$") and tonumber(id, 16)
	return h and h > 0 and h or nil
end
local handle_of = account.baseapp_handle

function account:registry()
	if self.reg == nil then
		if self.registry_addr then
			self.reg = require("shoal.registry").new(self.registry_addr)
		else
			self.reg = require("cluster").registry()
		end
	end
	return self.reg
end

function account:locate(id)
	local dir, code, text = self.db:directory(id)
	if dir == nil then
		return nil, code, text
	end
	local h = handle_of(dir.baseapp)
	if h == nil or dir.state ~= "online" then
		return nil
	end
	return { node = shoal.nodeof(h), baseapp = dir.baseapp, handle = h, epoch = dir.epoch, state = dir.state }
end

function account:send(id, body)
	local where = self:locate(id)
	if where == nil then
		return false, "offline"
	end
	local ok, sent = shoal.trycall(where.handle, "lua", "send", id, body)
	if not ok then
		return false, "baseapp " .. where.baseapp .. " did not answer"
	end
	return sent and true or false, not sent and "not on its baseapp any more" or nil
end

function account:kick(id, code)
	local where = self:locate(id)
	if where == nil then
		return false, "offline"
	end
	local ok = shoal.trycall(where.handle, "lua", "kick", id, where.epoch, code or C.LOGGED_IN_ELSEWHERE)
	if not ok then
		return false, "baseapp " .. where.baseapp .. " did not answer"
	end
	return true
end

function account:broadcast(body, scope)
	local filter = { type = "baseapp", healthy = true }
	if type(scope) == "table" then
		filter.tag = scope.tag
	end
	local here = shoal.nodeof(shoal.self())
	local n = 0
	for _, c in ipairs(self:registry():query(filter)) do
		local h = handle_of(c.id)
		if h and (scope ~= "node" or shoal.nodeof(h) == here) then
			if shoal.send(h, "lua", "broadcast", body) then
				n = n + 1
			end
		end
	end
	return n
end

-- Moves a logged-in client to another baseapp: `to` is a baseapp id, or
-- a node id (its first live baseapp). The target's redirect handler
-- (baseapp_redirect_to) gets "redirected", id, ok, extra when the client
-- arrives (ok true) or not (false: the token expired, or a login won).
-- -> true | false, why
function account:redirect(id, to, extra)
	local where = self:locate(id)
	if where == nil then
		return false, "offline"
	end
	local target = to
	if math.type(to) == "integer" then
		target = nil
		for _, c in ipairs(self:registry():query { type = "baseapp", healthy = true }) do
			local h = handle_of(c.id)
			if h and shoal.nodeof(h) == to then
				target = c.id
				break
			end
		end
		if target == nil then
			return false, "no baseapp on node " .. to
		end
	end
	local ok, moved, why = shoal.trycall(where.handle, "lua", "redirect", id, target, extra)
	if not ok then
		return false, "baseapp " .. where.baseapp .. " did not answer"
	end
	return moved, why
end

function account:check_and_set_logged_in(id, expected_epoch, baseapp)
	return self.db:cas_login(id, expected_epoch, baseapp)
end

function account:set_logged_out(id, epoch)
	return self.db:set_state(id, epoch, "offline")
end

return account
