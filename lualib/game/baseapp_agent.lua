-- game/baseapp_agent.lua - one game connection of a baseapp: ENTER with
-- the token, then the player's entity and its messages until LOGOUT, a
-- close or a kick (docs/protocol.md section 6, docs/baseapp.md).
-- service/baseapp_agent.lua runs it; the baseapp's watchdog starts one per
-- connection (shoal.gateserver).
--
-- The agent owns the player entity while the session lives: it is loaded
-- by the baseapp at ENTER, changed by the game logic's replies (ctx
-- updates), saved every baseapp_save_ms while it changes, and saved once
-- when the session ends (logout, close or kick), each save counted in
-- entity.saves. Game messages (ids 0x0100 and up) are routed by id through
-- shoal.router to the logic services (service/game_demo.lua: MOVE, SAY).
--
-- Frames to the client all go through send(). With baseapp_encrypt on,
-- start_cipher() switches the connection to the gate's AEAD mode
-- (docs/gate.md, "Encrypted connections"): from then on the gate opens
-- every frame from the client before it reaches this agent and seals every
-- frame anyone writes to it; a frame that does not open closes the
-- connection in the gate (the agent sees the close).

local shoal = require "shoal"
local gateserver = require "shoal.gateserver"
local router = require "shoal.router"
local db = require "game.db"
local proto = require "game.proto"
local ticket = require "game.ticket"
local cell = require "game.cell" -- the player's cell part (its space on a cellapp)

local agent = {}
local C = proto.codes
local GAME_FIRST = 0x0100

-- A session c: {conn, state = "new" | "entering" | "live" | "ending" | "redirecting" | "gone", account,
--     epoch, entity, ctx, switching, dirty, waiters}. Every function takes
-- its session: an agent is reused for connection after connection (the
-- baseapp's pool, baseapp_agent_pool), and a coroutine of an old session
-- (a periodic save asleep, a timeout) must never act on the next one.
local pooled -- the baseapp reuses this agent (agent.start)
local current -- the session of the connection now served (nil between two)
local baseapp -- the watchdog (the baseapp service)
local store

local function send(c, body)
	return gateserver.write(c.conn, body)
end

-- Encryption on, both ways, from the next frame: a request to the gate,
-- answered once the switch is done, so ENTER_OK (written next) is the
-- first sealed frame and nothing written meanwhile by this agent overtakes
-- the switch. Commands that write to the client (kick, push, redirect)
-- wait for it (settled()) rather than write in the middle of it.
local function start_cipher(c, c2s, s2c)
	c.switching = {}
	local ok, code, why = gateserver.encrypt(gateserver.gate(c.conn), c.conn, c2s, s2c,
		shoal.config("baseapp_enter_timeout_ms"))
	local waiting = c.switching
	c.switching = nil
	for _, co in ipairs(waiting) do
		shoal.wakeup(co)
	end
	return ok, code, why
end

local function settled(c)
	if c.switching then
		c.switching[#c.switching + 1] = coroutine.running()
		shoal.wait()
	end
end

local function close_with(c, code, text)
	send(c, proto.error(code, text))
	gateserver.kick(c.conn)
end

-- Every save is fenced by the session's epoch (dbmgr's entity_save_fenced):
-- once the account has moved on (the player resumed elsewhere while this
-- baseapp was frozen, or logged in again), the save is refused and the
-- session ends here: its client is gone, its newer state lives elsewhere.
local function save(c, reason)
	local e = c.entity
	e.saves = (e.saves or 0) + 1
	local ok, code, text = store:save_fenced("player", c.account, e, c.account, c.epoch)
	if ok == false then
		shoal.warn(string.format("baseapp agent: save of account %d (%s) refused: epoch %d is stale (the directory "
			.. "is at %s): the session ends", c.account, reason, c.epoch, tostring(code)))
		shoal.send(baseapp, "lua", "saved", "fenced")
		c.stale = true
		return false
	end
	if not ok then
		shoal.warn(string.format("baseapp agent: save of account %d (%s) failed: %s", c.account, reason,
			tostring(text or code)))
		return false, code
	end
	c.dirty = false
	shoal.send(baseapp, "lua", "saved", reason)
	return true
end

-- A stale session (a fenced save) is closed; its client left long ago.
local function end_stale(c)
	if c.stale and c.state == "live" then
		c.state = "ending"
		c.waiters = {}
		gateserver.kick(c.conn)
		shoal.send(baseapp, "lua", "left", c.account, c.epoch, shoal.self())
		c.state = "gone"
	end
end

-- The session's last save is made again while dbmgr is gone (killed,
-- being restarted) or its queue is full, for at most
-- baseapp_save_retry_ms: the BYE of a LOGOUT waits for it, so what a BYE
-- acknowledges is saved or queued in dbmgr. A save that timed out is
-- queued in a live dbmgr (its database away: docs/dbmgr.md) and lands
-- when it is back: saves wait past the harbor's verdict on a silent node
-- (db.until_node_lost_ms), so one sent to a frozen dbmgr's node fails with
-- NODEDOWN instead (lost with the link's buffers) and is made again. A
-- fenced save (the session is stale) is not made again.
local GONE = { [shoal.errors.NOSERVICE] = true, [shoal.errors.NODEDOWN] = true, [shoal.errors.EXITING] = true,
	[shoal.errors.FULL] = true }

local function last_save(c, reason)
	local give_up = shoal.now() + shoal.config("baseapp_save_retry_ms")
	local wait = 250
	while true do
		local ok, code = save(c, reason)
		if ok then
			return true
		end
		if c.stale or not GONE[code] or shoal.now() + wait > give_up then
			return false
		end
		shoal.sleep(wait)
		wait = math.min(wait * 2, 2000)
	end
end

-- Ends the live session once: saves, tells the baseapp, wakes kick waiters.
local function finish(c, reason)
	if c.state ~= "live" then
		if c.state == "ending" then -- someone else is ending it: wait for that save
			c.waiters[#c.waiters + 1] = coroutine.running()
			shoal.wait()
		end
		return
	end
	c.state = "ending"
	c.waiters = {}
	cell.left(c) -- its position goes into the entity before the save (may wait: after c.waiters)
	if last_save(c, reason) then
		shoal.send(baseapp, "lua", "backup_drop", c.account) -- the peer's copy is older than this save
	end
	-- Refused (harmless) when a newer login has moved the epoch on; a
	-- kicking login's compare-and-set looks at the epoch, not the state.
	store:set_state(c.account, c.epoch, "offline")
	if reason ~= "kick" then
		shoal.send(baseapp, "lua", "left", c.account, c.epoch, shoal.self())
	end
	c.state = "gone"
	for _, co in ipairs(c.waiters) do
		shoal.wakeup(co)
	end
end

local function periodic(c, save_ms)
	shoal.fork(function()
		while c.state == "live" do
			shoal.sleep(save_ms)
			if c.state == "live" and c.dirty then
				save(c, "periodic")
				end_stale(c)
			end
		end
	end)
end

-- Every baseapp_backup_ms, a changed entity goes to the baseapp, which
-- sends it to its backup peer (game/backup.lua): the resume's RPO.
local function backups(c, backup_ms)
	if backup_ms == 0 then
		return
	end
	shoal.fork(function()
		local sent
		while c.state == "live" do
			local v = c.entity.version
			if v ~= sent then
				shoal.send(baseapp, "lua", "backup", c.account, c.epoch, v, c.entity)
				sent = v
			end
			shoal.sleep(backup_ms)
		end
	end)
end

-- The entity changed: its version (compared with the peer's backup at a
-- resume, the newest wins) moves on.
local function changed(c)
	c.dirty = true
	c.entity.version = (c.entity.version or 0) + 1
end

-- A fresh resume ticket now and every half of its lifetime, so a client
-- always holds one that is still valid. It carries the session's resume
-- secret R (derived from the game keys the client has) and names the peer
-- that holds this baseapp's backups (docs/protocol.md section 8).
local function one_ticket(c, with_gates)
	local ok, peer, gates = shoal.trycall(baseapp, "lua", "peer")
	local ms = shoal.config("login_ticket_ms")
	send(c, proto.encode("TICKET", ticket.resume(ticket.cluster_keys(), c.account, c.epoch, ticket.now_ms() + ms,
		c.secret, ok and peer or "")))
	if with_gates and ok and gates then
		send(c, proto.encode("GATES", gates))
	end
end

local function tickets(c)
	local ms = shoal.config("login_ticket_ms")
	one_ticket(c, true)
	shoal.fork(function()
		while true do
			shoal.sleep(ms // 2)
			if c.state ~= "live" then
				return
			end
			one_ticket(c)
		end
	end)
end

-- After the baseapp's enter or resume (r): the session goes live, the
-- connection is sealed with r's keys, ENTER_OK, then TICKETs, saves, backups.
local function go_live(c, account, r)
	-- From here until the first wait (the switch to encryption), nothing
	-- else runs in this agent: the baseapp's kick of this session (if any)
	-- is handled after the state is live, and after the switch.
	c.account, c.epoch = account, r.epoch
	c.secret = ticket.resume_secret(r.c2s, r.s2c)
	store:set_index_columns("player", r.columns) -- the first save is then a write alone (queues through an outage)
	local e = r.entity or { name = r.name, x = 0, y = 0, logins = 0, saves = 0 }
	if not r.resumed then
		e.logins = (e.logins or 0) + 1
	else
		e.resumes = (e.resumes or 0) + 1
	end
	c.entity = e
	changed(c)
	e.data = type(e.data) == "table" and e.data or {}
	c.ctx = { name = r.name, baseapp = r.baseapp, x = e.x, y = e.y, data = e.data }
	c.state = "live"
	if r.encrypt then
		local ok, code, why = start_cipher(c, r.c2s, r.s2c)
		if not ok then -- the connection went away meanwhile, or the gate refused
			shoal.warn(string.format("baseapp agent: account %d: the gate did not encrypt connection %d (%s): closing",
				c.account, c.conn, tostring(why or shoal.errname(code))))
			gateserver.kick(c.conn)
			return finish(c, "close")
		end
		if c.state ~= "live" then -- the client left (or was kicked) during the switch
			return
		end
	end
	send(c, proto.encode("ENTER_OK", account, r.epoch, r.name, e.x, e.y, e.logins))
	tickets(c)
	cell.entered(c, baseapp) -- its cell part enters its space
	periodic(c, r.save_ms)
	backups(c, shoal.config("baseapp_backup_ms"))
end

-- How long an ENTER or RESUME waits for the baseapp: its own steps are
-- each bounded (five dbmgr calls, the old holder's kick and the backup
-- peer), so the agent waits for all of them instead of giving up first.
-- A caller that gave up early would leave a session the baseapp then
-- made for nobody; a client that leaves meanwhile ends it the usual way.
local function enter_bound()
	return 5 * shoal.config("call_timeout") + 2 * shoal.config("baseapp_resume_kick_ms")
end

local recycle -- frees the agent for its next connection (below, with handler.close)

-- The baseapp's answer to an ENTER or RESUME: the session goes live, or
-- the client hears why not. A client that left while the baseapp made
-- its session (handler.close marked it closed) does not leave that
-- session behind: it is saved and ended at once, then the agent is free.
local function entered(c, account, ok, r, code)
	if c.closed then
		if ok and r then
			c.account, c.epoch = account, r.epoch
			c.entity = r.entity or { name = r.name, x = 0, y = 0, logins = 0, saves = 0 }
			c.state = "live"
			local done, err = pcall(finish, c, "close")
			if not done then
				shoal.error(string.format("baseapp agent: account %d: ending the session of a closed client: %s",
					account, tostring(err)))
			end
		end
		c.state = "gone"
		return recycle(c)
	end
	if not ok or r == nil then
		c.state = "gone"
		return close_with(c, ok and code or C.UNAVAILABLE, ok and proto.code_names[code] or "the baseapp did not answer")
	end
	return go_live(c, account, r)
end

-- ENTER and RESUME alike: the baseapp's command (enter or resume) with
-- the message's fields, bounded by enter_bound.
local function ask_baseapp(c, m, cmd, ...)
	if m.version ~= proto.VERSION then
		return close_with(c, C.BAD_VERSION, "version 1 only")
	end
	c.state = "entering"
	local ok, r, code = shoal.trycalltimeout(enter_bound(), baseapp, "lua", cmd, c.conn, shoal.self(), m.account, ...)
	return entered(c, m.account, ok, r, code)
end

local function on_enter(c, m)
	return ask_baseapp(c, m, "enter", m.token)
end

-- RESUME (docs/protocol.md section 6.1): the session of a dead (or
-- unreachable) baseapp goes on here without a password.
local function on_resume(c, m)
	return ask_baseapp(c, m, "resume", m.ticket, m.nonce, m.proof)
end

local function on_game(c, id, body)
	if router.lookup(id) == nil then
		return send(c, proto.error(C.UNKNOWN_MESSAGE, string.format("no handler for 0x%04x", id)))
	end
	local ctx = c.ctx
	local ok, reply = router.route(c.account, id, body, ctx)
	if not ok then
		shoal.warn(string.format("baseapp agent: account %d, message 0x%04x: %s", c.account, id, tostring(reply)))
		return send(c, proto.error(C.UNAVAILABLE, "the game logic failed"))
	end
	local e = c.entity
	if ctx.x ~= e.x or ctx.y ~= e.y then
		e.x, e.y = ctx.x, ctx.y
		changed(c)
	end
	-- The game's own fields (docs/game-guide.md): a handler that changed
	-- them returns the table as ctx.data; it is saved and backed up with
	-- the entity.
	if ctx.data ~= e.data then
		if type(ctx.data) == "table" then
			e.data = ctx.data
			changed(c)
		else
			ctx.data = e.data -- not a table: ignored, logged
			shoal.warn(string.format("baseapp agent: account %d, message 0x%04x: ctx.data must be a table", c.account,
				id))
		end
	end
	if reply and c.state == "live" then
		send(c, reply)
	end
end

local function on_live(c, frame)
	local id, body = proto.id_of(frame)
	if id == nil then
		send(c, proto.error(C.MALFORMED, "an empty message"))
		gateserver.kick(c.conn)
		return finish(c, "close")
	end
	if cell.handles(id) then
		return cell.message(c, id, frame)
	end
	if id >= GAME_FIRST then
		return on_game(c, id, body)
	end
	local name, m = proto.decode(frame)
	if name == "PING" then
		send(c, proto.encode("PONG", m.n))
	elseif name == "LOGOUT" then
		finish(c, "logout")
		send(c, proto.encode("BYE"))
		gateserver.kick(c.conn)
	else
		send(c, proto.error(C.MALFORMED, "unexpected message"))
		gateserver.kick(c.conn)
		finish(c, "close")
	end
end

local handler = { max_queue = 256, max_queue_bytes = 256 * 1024 }

function handler.open(conn)
	local c = { conn = conn, state = "new" }
	current = c
	local ms = shoal.config("baseapp_enter_timeout_ms")
	shoal.timeout(ms, function()
		if c.state == "new" then
			c.state = "gone"
			close_with(c, C.TIMEOUT, "no ENTER in time")
		end
	end)
end

function handler.message(_, frame)
	local c = current
	if c.state == "new" then
		local name, m = proto.decode(frame)
		if name == "ENTER" or name == "RESUME" then
			local ok, err = xpcall(name == "ENTER" and on_enter or on_resume, shoal.traceback, c, m)
			if not ok then -- a bug must still answer the client
				shoal.error("baseapp agent: ENTER failed: " .. tostring(err))
				if c.state ~= "live" then
					c.state = "gone"
					close_with(c, C.UNAVAILABLE, "internal error")
				end
			end
			return
		end
		c.state = "gone"
		return close_with(c, name and C.NOT_ENTERED or C.MALFORMED, "ENTER first")
	elseif c.state == "live" then
		return on_live(c, frame)
	end
	-- entering, ending, gone: frames after the end are dropped
end

-- The session is over (saved); a pooled agent offers itself for the next
-- connection: the baseapp keeps it (true) or lets it go (the pool is full,
-- or the baseapp is gone): then it exits.
function recycle(c)
	if current == c then
		current = nil
	end
	if not pooled then
		return
	end
	local ok, keep = shoal.trycall(baseapp, "lua", "idle", shoal.self())
	if not (ok and keep) then
		shoal.exit()
	end
end

function handler.close()
	local c = current
	local ok, err = true, nil
	if c.state == "entering" then -- the ENTER or RESUME in flight ends what it gets (entered)
		c.closed = true
		return
	end
	if c.state == "live" or c.state == "ending" then
		ok, err = xpcall(finish, shoal.traceback, c, "close")
	end
	c.state = "gone"
	recycle(c) -- even after a bug in the save: a pooled agent must not linger unused
	if not ok then
		error(err, 0)
	end
end

-- The session of account (and epoch) if this agent serves it now: the
-- baseapp names the session it means, so that a late command for the
-- previous connection of a reused agent does nothing.
local function session(account, epoch)
	local c = current
	if c and c.account == account and (epoch == nil or c.epoch == epoch) then
		return c
	end
	return nil
end

handler.command = {
	cell_route = function(account, ...) -- the cellapp of its space moved or was recovered
		local c = session(account)
		cell.route(c and c.state == "live" and c or nil, account, ...)
	end,
	-- The baseapp ends this session for a newer login (or a shutdown).
	kick = function(code, account, epoch)
		local c = session(account, epoch)
		if c == nil then
			return true
		end
		settled(c)
		if c.state == "live" then
			send(c, proto.encode("KICK", code, code == C.SHUTDOWN and "the server is stopping" or "logged in elsewhere"))
			gateserver.kick(c.conn)
			finish(c, code == C.SHUTDOWN and "shutdown" or "kick")
		elseif c.state == "ending" then
			finish(c, "kick") -- waits for the save under way
		end
		return true
	end,
	-- A redirect (baseapp.lua's redirect): first the entity is saved and
	-- the session stops taking frames ...
	redirect_save = function(account, epoch)
		local c = session(account, epoch)
		if c == nil then
			return false
		end
		settled(c)
		if c.state ~= "live" then
			return false
		end
		c.state = "redirecting"
		return save(c, "redirect")
	end,
	-- ... then the client is told where to go (and closed), or, if the
	-- target could not take it, kicked.
	redirect_go = function(account, epoch, host, port, token, c2s, s2c, encrypted)
		local c = session(account, epoch)
		if c and c.state == "redirecting" then
			send(c, proto.encode("REDIRECT", host, port, token, c2s, s2c, encrypted and 1 or 0))
			gateserver.kick(c.conn)
			c.state = "gone"
		end
		return true
	end,
	redirect_fail = function(account, epoch, code)
		local c = session(account, epoch)
		if c and c.state == "redirecting" then
			send(c, proto.encode("KICK", code, "the move to another server failed"))
			gateserver.kick(c.conn)
			store:set_state(c.account, c.epoch, "offline")
			c.state = "gone"
		end
		return true
	end,
	-- The backup peer or the live gates changed: a fresh TICKET (naming
	-- the new peer) and GATES.
	refresh = function(account, epoch)
		local c = session(account, epoch)
		if c then
			settled(c)
			if c.state == "live" then
				one_ticket(c, true)
			end
		end
	end,
	-- The entity of the live session of account, a copy (the console's
	-- `entity ID`), or nil.
	entity = function(account)
		local c = session(account)
		if c == nil or c.state ~= "live" or c.entity == nil then
			return nil
		end
		local copy = {}
		for k, v in pairs(c.entity) do
			copy[k] = v
		end
		return copy
	end,
	-- A message for the client of account (account.send, chat broadcasts).
	-- from: the cellapp that sent it (nil for the rest); a copy of the
	-- space this cell part has left (a woken cellapp that does not know yet
	-- that its space was recovered elsewhere) is not heard.
	push = function(body, account, from)
		local c = session(account)
		if c == nil or cell.stale(c, from) then
			return
		end
		settled(c)
		if c.state == "live" then
			if type(body) == "table" then -- a list of frames (a cellapp's PROP frames of one tick)
				for _, b in ipairs(body) do
					send(c, b)
				end
			else
				send(c, body)
			end
		end
	end,
}

-- watchdog: the baseapp; pooled: it hands this agent connection after
-- connection (else the agent exits after its one connection).
function agent.start(watchdog, is_pooled)
	baseapp = watchdog
	pooled = is_pooled
	store = db.new(shoal.config("baseapp_dbmgr"), { write_timeout_ms = db.until_node_lost_ms() })
	gateserver.agent(handler)
end

return agent
