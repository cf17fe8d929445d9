-- game/cell.lua - the player's cell part, seen from its baseapp agent
-- (docs/cellapp.md, "The player's cell part"; the client messages are
-- docs/protocol.md section 6.2). The agent (lualib/game/baseapp_agent.lua)
-- calls four hooks:
--
--   cell.entered(c, baseapp)   after ENTER_OK: the entity enters its space (entity field `cell`:
--                              {space, x, y, dir}; else the first of `world_spaces`, at its centre)
--   cell.handles(id)           -> true for the world's message ids (0x0104..0x011F)
--   cell.message(c, id, frame) a client world message (WALK, SET_PROP, WHERE)
--   cell.left(c)               the session ends: the cell part leaves, its position goes into the entity
--   cell.route(c, account, space, handle, epoch)  the space's cellapp says where it is now
--                              (c nil: this agent no longer serves that account)
--   cell.stale(c, from)        -> true for a message of a cellapp whose copy of the space this part has left
--
-- c is the agent's session ({account, entity, conn, state}); its cell
-- part is c.cell. Messages to the cellapp are one-way, each with the next
-- per-entity sequence number, so the cellapp applies them once and in
-- order even when a migration hands them from one cellapp to the next.
-- While the cell part (re)attaches (a space recovered on another cellapp)
-- they wait here, at most MAX_WAITING, in order.
local shoal = require "shoal"
local gateserver = require "shoal.gateserver"
local proto = require "game.proto"
local cellappmgr = require "game.cellappmgr"

local cell = {}
local R = proto.refusals
local MAX_WAITING = 256
local LEAVE_MS = 500 -- the leave's answer (the position saved); past it: the last known position
local ATTACH_TRIES = 40 -- x 100..500 ms: a recovery takes the failure-detection bound at most

local mgr -- this agent's cellappmgr client (created on first use)

local function locate(name)
	mgr = mgr or cellappmgr.client()
	return mgr:locate(name)
end

local function to_client(c, body)
	if c.state == "live" then
		gateserver.write(c.conn, body)
	end
end

local function refuse(c, why)
	local cs = c.cell
	to_client(c, proto.encode("REFUSED", R[why] or R.malformed, cs and cs.x or 0, cs and cs.y or 0, why))
end

function cell.handles(id)
	return id >= proto.WORLD_FIRST and id <= proto.WORLD_LAST
end

local function first_space()
	return shoal.config("world_spaces"):match("[^,%s]+")
end

local function send_now(c, kind, ...)
	local cs = c.cell
	cs.seq = cs.seq + 1
	shoal.send(cs.handle, "lua", "op", cs.space, cs.epoch, c.account, cs.seq, kind, ...)
end

local function op(c, kind, ...)
	local cs = c.cell
	if cs.attaching or cs.handle == nil then
		if #cs.waiting >= MAX_WAITING then
			return refuse(c, "queue full")
		end
		cs.waiting[#cs.waiting + 1] = table.pack(kind, ...)
		return
	end
	send_now(c, kind, ...)
end

-- Enters (or enters again) the space through cellappmgr, bounded by
-- ATTACH_TRIES; then what waited goes out in order. hint: {handle, epoch}
-- from the cellapp that says it holds the space now (tried first: during
-- a migration cellappmgr answers "being moved" until the hand-off).
local function attach(c, why, hint)
	local cs = c.cell
	if cs.attaching then
		return
	end
	cs.attaching = true
	local mailbox = { baseapp = cs.baseapp, agent = shoal.self(), account = c.account }
	local last
	for try = 1, ATTACH_TRIES do
		if c.state ~= "live" or cs.gone then
			break
		end
		local r, code, text = hint, nil, nil
		hint = nil
		if r == nil then
			r, code, text = locate(cs.space)
		end
		if r then
			local ok, world, err = shoal.trycall(r.handle, "lua", "enter", cs.space, r.epoch, c.account,
				{ x = cs.x, y = cs.y, dir = cs.dir, public = cs.public, owner = cs.owner }, mailbox, cs.seq)
			if ok and world and cs.gone then -- the session ended meanwhile: no ghost stays behind
				shoal.send(r.handle, "lua", "gone", cs.space, c.account, shoal.self())
				break
			end
			if ok and world then
				if cs.handle and cs.handle ~= r.handle then
					cs.left = cs.left or {}
					cs.left[cs.handle] = true
				end
				if cs.left then
					cs.left[r.handle] = nil -- the space may come back to a cellapp it left
				end
				cs.handle, cs.epoch, cs.attaching = r.handle, world.epoch, false
				cs.x, cs.y, cs.dir = world.x, world.y, world.dir
				if world.fresh then
					to_client(c, proto.encode("WORLD", cs.space, world.width, world.height, world.radius, world.x,
						world.y, world.dir))
				end
				if try > 1 or why ~= "enter" then
					shoal.log(string.format("cell: account %d: in space %s again (%s, epoch %d, %d tries)", c.account,
						cs.space, why, cs.epoch, try))
				end
				local waiting = cs.waiting
				cs.waiting = {}
				for _, w in ipairs(waiting) do
					send_now(c, table.unpack(w, 1, w.n))
				end
				return true
			end
			last = ok and err or world
		elseif code == cellappmgr.UNKNOWN_SPACE and cs.space ~= first_space() then
			-- a saved space that no longer exists: the first world space, at its centre
			shoal.warn(string.format("cell: account %d: no space %s any more: %s instead", c.account, cs.space,
				first_space()))
			cs.space = first_space()
			cs.x, cs.y, cs.dir = shoal.config("world_width") / 2, shoal.config("world_height") / 2, 0
			last = text
		else
			last = tostring(code) .. ": " .. tostring(text)
		end
		shoal.sleep(math.min(100 * try, 500))
	end
	cs.attaching = false
	cs.waiting = {} -- refused with the rest: "no space"
	if c.state == "live" and not cs.gone then
		shoal.warn(string.format("cell: account %d: cannot enter space %s: %s", c.account, cs.space, tostring(last)))
		refuse(c, "no space")
	end
	return false
end

-- A missed notice (the cellapp died before it could tell, or the notice
-- was lost) is found by asking cellappmgr every cell_check_ms.
local function watch(c)
	local cs = c.cell
	local ms = shoal.config("cell_check_ms")
	shoal.fork(function()
		while c.state == "live" and not cs.gone do
			shoal.sleep(ms)
			if c.state == "live" and not cs.gone and not cs.attaching then
				local r = locate(cs.space)
				if r and (r.epoch > cs.epoch or r.handle ~= cs.handle) then
					attach(c, "moved")
				end
			end
		end
	end)
end

function cell.entered(c, baseapp)
	local e = c.entity
	local saved = type(e.cell) == "table" and e.cell or {}
	local name = type(saved.space) == "string" and saved.space or first_space()
	if name == nil then
		return
	end
	local w, h = shoal.config("world_width"), shoal.config("world_height")
	c.cell = { space = name, x = tonumber(saved.x) or w / 2, y = tonumber(saved.y) or h / 2,
		dir = tonumber(saved.dir) or 0, seq = 0, epoch = 0, waiting = {}, baseapp = baseapp,
		public = { name = e.name }, owner = {} }
	shoal.fork(function()
		attach(c, "enter")
		watch(c)
	end)
end

-- c: the session this agent serves for account now, or nil (the notice
-- is about a session that ended: its entity leaves that space).
-- A message from a cellapp whose copy of the space this cell part has
-- left since (a woken cellapp that has not learnt yet that the space was
-- recovered elsewhere): true, and it is not passed on.
function cell.stale(c, from)
	local cs = c.cell
	return from ~= nil and cs ~= nil and cs.left ~= nil and cs.left[from] == true
end

function cell.route(c, account, name, handle, epoch)
	if c == nil then
		shoal.send(handle, "lua", "gone", name, account, shoal.self())
		return
	end
	local cs = c.cell
	if cs and not cs.gone and cs.space == name and epoch > cs.epoch then
		shoal.fork(attach, c, "notice", { handle = handle, epoch = epoch })
	end
end

local handlers = {}

handlers.WALK = function(c, m)
	op(c, "move", m.x, m.y, m.dir)
end

handlers.SET_PROP = function(c, m)
	if #m.key < 1 or #m.key > 32 or not m.key:match("^[%w_]+$") or #m.value > 200 or m.scope > 1 then
		return refuse(c, "bad property")
	end
	op(c, "prop", m.key, m.value, m.scope == 1 and "owner" or "public")
end

handlers.WHERE = function(c)
	op(c, "where")
end

function cell.message(c, id, frame)
	if c.cell == nil then
		return to_client(c, proto.error(proto.codes.UNAVAILABLE, "no world on this server"))
	end
	local f = handlers[proto.names[id]]
	if f == nil then -- a server -> client message, or a reserved id
		return to_client(c, proto.error(proto.codes.UNKNOWN_MESSAGE, string.format("0x%04x is not a request", id)))
	end
	local name, m = proto.decode(frame)
	if name == nil then
		shoal.warn(string.format("cell: account %d: %s: refused", c.account, tostring(m)))
		return refuse(c, "malformed")
	end
	f(c, m)
end

function cell.left(c)
	local cs = c.cell
	if cs == nil or cs.gone then
		return
	end
	cs.gone = true
	if cs.handle then
		-- bounded well below a login's kick timeout: a frozen cellapp must not hold a kick up
		local ok, pos = shoal.trycalltimeout(LEAVE_MS, cs.handle, "lua", "leave", cs.space, c.account, shoal.self())
		if ok and pos then
			cs.x, cs.y, cs.dir = pos.x, pos.y, pos.dir
		end
	end
	c.entity.cell = { space = cs.space, x = cs.x, y = cs.y, dir = cs.dir }
	c.dirty = true
end

return cell
