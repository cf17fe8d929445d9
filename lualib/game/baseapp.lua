-- game/baseapp.lua - the baseapp: a gate for game clients, the sessions
-- of the players connected to it, and the fences that keep an account to
-- one session in the cluster (docs/baseapp.md; the client side of it is
-- docs/protocol.md section 6). service/baseapp.lua starts it; every
-- connection gets an agent (lualib/game/baseapp_agent.lua).
--
--   local baseapp = require "game.baseapp"
--   baseapp.start(baseapp.config())    -- the baseapp_* keys
--
-- Commands ("lua"), from loginapps, agents and the account manager:
--   expect(account, epoch, nonce, c2s, s2c, expiry_ms, name) -> true | false (a newer login is known)
--   kick(account, epoch [, code])  -> true once the session of epoch <= epoch is gone and saved
--   enter(conn, agent, account, token) -> {epoch, name, entity, c2s, s2c, encrypt} | nil, proto code
--   resume(conn, agent, account, ticket, nonce, proof) -> the same as enter | nil, proto code (RESUME)
--   peer()                         -> the id of the baseapp that holds this one's backups ("" none), and
--                                     the live gates {{host, port, healthy, online}, ...} (GATES)
--   backup(account, epoch, version, entity)  one-way from agents: the entity changed (sent to the peer)
--   backup_drop(account)           one-way from agents: the session ended with a save
--   backups(origin, list)          one-way from another baseapp: its changed entities (this one is its peer)
--   backup_get(account)            -> {origin, epoch, version, entity} | nil
--   backup_save(origin)            -> saved, refused: the failover service's order when origin is dead
--   backup_stats()                 -> {held, origins = {id = n}, peer}
--   left(account, epoch, agent)    an agent's session is over (saved)
--   saved(reason)                  one-way from agents: "kick", "logout", "periodic", "shutdown"
--   send(account, body)            -> true | false (no such session here): a message to that client (body: a frame or a list of frames)
--   broadcast(body)                every client of this baseapp
--   sessions()                     -> {account = {epoch, agent}, ...}
--   drain()                        -> n: kicks (KICK SHUTDOWN) and saves every session, refuses new ENTERs
--   redirect(account, target, extra) -> true | false, why: moves the session to baseapp target (its id)
--   public_address()               -> host, port clients are told
--   stats()                        -> {online, enters, kicks, refused = {code = n}, save_* = n, ...}
--   id()                           -> this baseapp's id (its registry id, in the directory)
--   address()                      -> "host:port" its gate listens on (nil until it does)
--
-- The fencing, in the words of docs/protocol.md section 5.4: a loginapp
-- kicks the baseapp the directory names before it moves the epoch on. A
-- kick ends the session it finds and also leaves a fence ("nothing at or
-- below epoch E for this account"), so an ENTER that was on its way, or an
-- expectation that arrives late, can never go live after the kick: every
-- step of enter() that waits is followed by a look at the fence.

local shoal = require "shoal"
local crypto = require "shoal.crypto"
local gateserver = require "shoal.gateserver"
local db = require "game.db"
local proto = require "game.proto"
local ticket = require "game.ticket"
local backup = require "game.backup"
local handle_of = require("game.account").baseapp_handle

local baseapp = {}
local C = proto.codes

function baseapp.config()
	local cfg = shoal.config
	return {
		host = cfg("baseapp_host"),
		public_host = cfg("baseapp_public_host"),
		port = cfg("baseapp_port"),
		maxconn = cfg("baseapp_maxconn"),
		max_frame = cfg("baseapp_max_frame"),
		idle_ms = cfg("baseapp_idle_ms"),
		encrypt = cfg("baseapp_encrypt"),
		dbmgr = cfg("baseapp_dbmgr"),
		registry = cfg("baseapp_registry"),
		heartbeat_ms = cfg("baseapp_heartbeat_ms"),
		token_ms = cfg("login_token_ms"),
		redirect_to = cfg("baseapp_redirect_to"),
		backup_ms = cfg("baseapp_backup_ms"),
		backup_max = cfg("baseapp_backup_max"),
		resume_kick_ms = cfg("baseapp_resume_kick_ms"),
		agent_pool = cfg("baseapp_agent_pool"),
		agent = "baseapp_agent", -- the service run for each connection (given the baseapp's handle)
	}
end

local S -- the baseapp's state

local function bump(k, n)
	S.stats[k] = (S.stats[k] or 0) + (n or 1)
end

local function refused(code)
	local name = proto.code_names[code] or tostring(code)
	S.stats.refused[name] = (S.stats.refused[name] or 0) + 1
	return nil, code
end

-- The game's redirect handler (baseapp_redirect_to) hears of every
-- redirect that arrives here: "redirected", account, ok, extra.
local function redirected(account, ok, extra)
	bump(ok and "redirects_in" or "redirects_lost")
	if S.conf.redirect_to ~= "" then
		shoal.send(S.conf.redirect_to, "lua", "redirected", account, ok, extra)
	end
end

-- Fences and used nonces live until the tokens they guard have expired.
local function fence(account, epoch)
	local f = S.fenced[account]
	if f == nil or f.epoch < epoch then
		S.fenced[account] = { epoch = epoch, until_ms = ticket.now_ms() + 2 * S.conf.token_ms }
	else
		f.until_ms = ticket.now_ms() + 2 * S.conf.token_ms
	end
end

local function fenced(account, epoch)
	local f = S.fenced[account]
	return f ~= nil and epoch <= f.epoch
end

local function prune()
	local now = ticket.now_ms()
	for k, e in pairs(S.expects) do
		if e.expiry_ms < now then
			S.expects[k] = nil
			if e.redirect then
				redirected(k, false, e.redirect.extra) -- the client never came
			end
		end
	end
	for k, t in pairs(S.used) do
		if t < now then
			S.used[k] = nil
		end
	end
	for k, f in pairs(S.fenced) do
		if f.until_ms < now then
			S.fenced[k] = nil
		end
	end
end

local command = {}

function command.id()
	return S.id
end

function command.address()
	return S.address
end

function command.expect(account, epoch, nonce, c2s, s2c, expiry_ms, name, redirect)
	if fenced(account, epoch) then
		return false
	end
	local e = S.expects[account]
	if e and e.epoch > epoch then
		return false
	end
	if e and e.redirect then
		redirected(account, false, e.redirect.extra) -- replaced before it arrived
	end
	S.expects[account] = { epoch = epoch, nonce = nonce, c2s = c2s, s2c = s2c, expiry_ms = expiry_ms, name = name,
		redirect = redirect }
	return true
end

-- Ends session s (kick waits for the agent's save); concurrent kicks of
-- the same session wait for the first one.
-- The session s of account is over: it leaves the table (if still there)
-- and whoever waits for its end (a kick during a redirect) goes on.
local function session_over(account, s)
	if S.sessions[account] == s then
		S.sessions[account] = nil
		S.online = S.online - 1
	end
	s.ended = true
	for _, co in ipairs(s.waiters) do
		shoal.wakeup(co)
	end
end

local function end_session(account, s, code)
	if s.ending then
		if not s.ended then
			local co = coroutine.running()
			s.waiters[#s.waiters + 1] = co
			shoal.wait()
		end
		return
	end
	s.ending, s.waiters = true, {}
	bump("kicks")
	shoal.event("baseapp", "kick", { "account", account, "epoch", s.epoch, "code", proto.code_names[code] or code })
	local ok, err = shoal.trycall(s.agent, "lua", "kick", code, account, s.epoch)
	if not ok then
		shoal.warn(string.format("baseapp: the agent of account %d did not answer its kick: %s", account,
			tostring(err)))
	end
	session_over(account, s)
end

function command.kick(account, epoch, code)
	fence(account, epoch)
	local e = S.expects[account]
	if e and e.epoch <= epoch then
		S.expects[account] = nil
		if e.redirect then
			redirected(account, false, e.redirect.extra)
		end
	end
	local s = S.sessions[account]
	if s and s.epoch <= epoch then
		end_session(account, s, code or C.LOGGED_IN_ELSEWHERE)
	end
	return true
end

function command.enter(conn, agent, account, token)
	if S.draining then
		return refused(C.UNAVAILABLE)
	end
	local t, code = ticket.check_token(S.keys, token, ticket.now_ms())
	if t == nil then
		return refused(code)
	end
	if t.account ~= account then
		return refused(C.TOKEN_INVALID)
	end
	if t.baseapp ~= S.id then
		return refused(C.TOKEN_FOREIGN)
	end
	if S.used[t.nonce] then
		return refused(C.TOKEN_USED)
	end
	S.used[t.nonce] = t.expiry_ms
	local e = S.expects[account]
	if e == nil or e.nonce ~= t.nonce or e.epoch ~= t.epoch or fenced(account, t.epoch) then
		return refused(C.TOKEN_USED) -- never expected here, or a newer login replaced it
	end
	S.expects[account] = nil
	local old = S.sessions[account]
	if old then -- an older session on this very baseapp (the loginapp's kick came first normally)
		end_session(account, old, C.LOGGED_IN_ELSEWHERE)
	end
	local ok, cur = S.db:set_state(account, t.epoch, "online")
	if ok == nil then
		return refused(C.UNAVAILABLE)
	end
	if not ok or fenced(account, t.epoch) then
		return refused(C.TOKEN_USED)
	end
	local entity, lcode = S.db:load("player", account)
	if entity == nil and lcode then
		return refused(C.UNAVAILABLE)
	end
	-- The player's indexed columns (cached after the first ENTER): handed
	-- to the agent, whose saves are then writes alone (they queue through a
	-- database outage rather than fail on a read of the list).
	local columns = S.db:index_columns("player")
	if columns == nil then
		return refused(C.UNAVAILABLE)
	end
	if fenced(account, t.epoch) or S.sessions[account] then
		return refused(C.TOKEN_USED) -- kicked (or entered again) while the entity loaded
	end
	S.sessions[account] = { epoch = t.epoch, agent = agent, conn = conn, name = e.name }
	S.online = S.online + 1
	bump("enters")
	if e.redirect then
		redirected(account, true, e.redirect.extra)
	end
	return { epoch = t.epoch, name = e.name, entity = entity, c2s = e.c2s, s2c = e.s2c, encrypt = S.conf.encrypt,
		baseapp = shoal.self(), save_ms = shoal.config("baseapp_save_ms"), columns = columns }
end

-- ---- RESUME (docs/protocol.md section 6.1; docs/failover.md)

-- The newest of the peer's backup (of this very session: its epoch) and
-- the last save. -> entity | nil (never saved, no backup), or false, code.
local function restore(account, t)
	local entity, lcode = S.db:load("player", account)
	if entity == nil and lcode then
		return false, C.UNAVAILABLE
	end
	local rec
	if t.peer == S.id then
		rec = S.backup:get(account)
	elseif handle_of(t.peer) then
		local ok, r = shoal.trycalltimeout(S.conf.resume_kick_ms, handle_of(t.peer), "lua", "backup_get", account)
		rec = ok and r or nil
		if not ok then
			bump("resume_backup_unreachable")
		end
	end
	if rec and rec.epoch == t.epoch and (entity == nil or (rec.version or 0) > (entity.version or 0)) then
		bump("resume_from_backup")
		return rec.entity
	end
	bump("resume_from_save")
	return entity
end

-- The session the directory names is ended: here at once, elsewhere by a
-- kick bounded by baseapp_resume_kick_ms. A dead or frozen holder cannot
-- hold it: the epoch moves on without it, and its saves are fenced.
local function end_holder(account, dir)
	local old = S.sessions[account]
	if old then
		end_session(account, old, C.LOGGED_IN_ELSEWHERE)
	end
	local h = handle_of(dir.baseapp)
	if h and dir.baseapp ~= S.id and dir.state ~= "offline" then
		local ok, code = shoal.trycalltimeout(S.conf.resume_kick_ms, h, "lua", "kick", account, dir.epoch)
		if not ok then
			bump("resume_holder_gone")
			shoal.log(string.format("baseapp %s: resume of account %d: the holder %s did not answer (%s): fenced",
				S.id, account, dir.baseapp, shoal.errname(code) or tostring(code)))
		end
	end
end

function command.resume(conn, agent, account, tkt, nonce, proof)
	if S.draining then
		return refused(C.UNAVAILABLE)
	end
	local t, code = ticket.check_resume(S.keys, tkt, ticket.now_ms())
	if t == nil then
		return refused(code)
	end
	if t.account ~= account or not crypto.equal(proof, ticket.resume_proof(t.secret, account, nonce)) then
		return refused(C.TOKEN_INVALID) -- another account's ticket, or a RESUME from someone without R
	end
	if fenced(account, t.epoch) then
		return refused(C.TOKEN_USED)
	end
	local dir, dcode = S.db:directory(account)
	if dir == nil then
		return refused(dcode and C.UNAVAILABLE or C.TOKEN_INVALID)
	end
	if dir.epoch ~= t.epoch then
		return refused(C.TOKEN_USED) -- resumed already, or a newer login: this ticket is spent
	end
	end_holder(account, dir)
	local won, epoch = S.db:cas_login(account, t.epoch, S.id)
	if won == nil then
		return refused(C.UNAVAILABLE)
	end
	if not won then
		return refused(C.TOKEN_USED) -- a racing RESUME or login won
	end
	local entity, rcode = restore(account, t)
	if entity == false then
		return refused(rcode)
	end
	local ok = S.db:set_state(account, epoch, "online")
	if ok == nil then
		return refused(C.UNAVAILABLE)
	end
	local columns = S.db:index_columns("player")
	if columns == nil then
		return refused(C.UNAVAILABLE)
	end
	if not ok or fenced(account, epoch) or S.sessions[account] then
		return refused(C.TOKEN_USED) -- a login won while the entity loaded
	end
	local name = entity and entity.name or ""
	S.sessions[account] = { epoch = epoch, agent = agent, conn = conn, name = name }
	S.online = S.online + 1
	bump("resumes")
	local c2s, s2c = ticket.resume_keys(t.secret, nonce)
	return { epoch = epoch, name = name, entity = entity, c2s = c2s, s2c = s2c, encrypt = S.conf.encrypt,
		baseapp = shoal.self(), save_ms = shoal.config("baseapp_save_ms"), columns = columns, resumed = true }
end

-- ---- peer backups (game/backup.lua)

function command.peer()
	return S.peer or "", S.gates
end

function command.backup(account, epoch, version, entity)
	local s = S.sessions[account]
	if s and s.epoch == epoch then
		S.backup:offer(account, epoch, version, entity)
	end
end

function command.backup_drop(account)
	S.backup:drop(account)
end

function command.backups(origin, list)
	local _, refused_n = S.backup:store(origin, list)
	if refused_n > 0 then
		bump("backups_refused", refused_n)
		shoal.warn(string.format("baseapp %s: %d backups of %s refused: baseapp_backup_max (%d) held", S.id,
			refused_n, origin, S.conf.backup_max))
	end
end

function command.backup_get(account)
	return S.backup:get(account)
end

-- The origin is dead: each of its backups is saved if its session is still
-- the directory's (a fenced save: a player who resumed elsewhere moved the
-- epoch on, and its newer state wins) and it is newer than the saved
-- entity (by version: a read, then the fenced write). Idempotent: a second
-- call finds none.
function command.backup_save(origin)
	local saved, stale, failed = 0, 0, 0
	for _, rec in ipairs(S.backup:of_origin(origin)) do
		-- A copy older than what is saved (a former peer's, left from
		-- before the origin's ring changed) must not overwrite it: the
		-- entity's version says which is newer.
		local cur, lcode = S.db:load("player", rec.account)
		local ok
		if cur == nil and lcode then
			ok = nil
		elseif cur and (cur.version or 0) >= (rec.entity.version or 0) then
			ok = false
		else
			ok = S.db:save_fenced("player", rec.account, rec.entity, rec.account, rec.epoch)
		end
		if ok == nil then
			failed = failed + 1 -- kept: the failover service asks again
		else
			if ok then
				saved = saved + 1
			else
				stale = stale + 1
			end
			S.backup:forget(rec.account, rec.epoch)
		end
	end
	bump("backups_saved", saved)
	return saved, stale, failed
end

function command.backup_stats()
	local origins = {}
	for _, rec in pairs(S.backup.held) do
		origins[rec.origin] = (origins[rec.origin] or 0) + 1
	end
	return { held = S.backup:count(), origins = origins, peer = S.peer or "" }
end

-- The peer is the next live baseapp in id order (the registry's verdict,
-- read every few heartbeats: no second failure detector). A new peer gets
-- every copy, and every client a fresh TICKET that names it.
local function follow_peer()
	local list = S.registry:query { type = "baseapp" }
	local ids, gates, keys, lives = {}, {}, {}, {}
	table.sort(list, function(a, b)
		return a.id < b.id
	end)
	for _, c in ipairs(list) do
		if c.state ~= "dead" then
			ids[#ids + 1] = c.id
			lives[c.id] = c.inc
			if c.addr and c.port then
				gates[#gates + 1] = { host = c.addr, port = c.port, healthy = c.state == "alive",
					online = math.tointeger(tonumber(c.status and c.status.online)) or 0 }
				keys[#keys + 1] = c.addr .. ":" .. c.port
			end
		end
	end
	local peer = backup.peer_of(S.id, ids)
	local gates_key = table.concat(keys, ",")
	-- A peer restarted under the same id (a new life in the registry) holds
	-- nothing: it is a new peer too.
	local moved = peer ~= S.peer or lives[peer] ~= S.peer_life
	if moved then
		shoal.log(string.format("baseapp %s: backup peer %s -> %s (life %s)", S.id, tostring(S.peer), tostring(peer),
			tostring(lives[peer])))
		S.peer, S.peer_life = peer, lives[peer]
		S.backup:everything() -- sent in full at the next flush
		S.full = true
	end
	S.gates = gates
	if moved or gates_key ~= S.gates_key then
		S.gates_key = gates_key
		for account, s in pairs(S.sessions) do
			shoal.send(s.agent, "lua", "refresh", account, s.epoch)
		end
	end
end

local function flush()
	local list = S.full and S.backup:everything() or S.backup:pending()
	S.full = false
	local h = handle_of(S.peer)
	if h and #list > 0 then
		shoal.send(h, "lua", "backups", S.id, list)
		bump("backups_sent", #list)
	end
end

-- Every baseapp_backup_ms the changed entities go to the peer; every two
-- heartbeats the peer and the gates are read again.
local function backups_loop()
	local every = S.conf.backup_ms > 0 and S.conf.backup_ms or S.conf.heartbeat_ms
	local last_peer = 0
	while true do
		shoal.sleep(every)
		local now = shoal.now()
		if S.registry and now - last_peer >= 2 * S.conf.heartbeat_ms then
			last_peer = now
			local ok, err = pcall(follow_peer)
			if not ok then
				shoal.warn("baseapp " .. S.id .. ": reading the baseapps from the registry: " .. tostring(err))
			end
		end
		if S.conf.backup_ms > 0 then
			local ok, err = pcall(flush)
			if not ok then
				shoal.error("baseapp " .. S.id .. ": backup flush failed: " .. tostring(err))
			end
		end
	end
end

-- Before a planned stop: the baseapp leaves the registry (baseappmgr
-- stops sending players), every session is kicked (KICK SHUTDOWN) and
-- saved, and new ENTERs are refused (UNAVAILABLE). -> sessions ended.
-- (SIGTERM alone stops the gate and the dbmgr together with the agents:
-- clients see a close and entities keep their last periodic save.)
function command.drain()
	S.draining = true
	if S.registry then -- out of the balancer's list: no new player is sent here
		local ok, err = pcall(S.registry.leave, S.registry)
		if not ok then
			shoal.warn("baseapp " .. S.id .. ": leave the registry: " .. tostring(err))
		end
	end
	local list = {}
	for account, s in pairs(S.sessions) do
		list[#list + 1] = { account, s }
	end
	for _, e in ipairs(list) do
		end_session(e[1], e[2], C.SHUTDOWN)
	end
	return #list
end

function command.public_address()
	return S.conf.public_host, S.port
end

-- Moves the session of account to baseapp `target` (its id): the entity is
-- saved, the directory moves to the target at epoch + 1, the target
-- expects the account (and tells its redirect handler when it arrives,
-- with extra), and the client gets REDIRECT (host, port, token, new keys)
-- and is closed. -> true | false, why. On a failure after the save the
-- client is kicked (KICK UNAVAILABLE, or LOGGED_IN_ELSEWHERE when a login
-- won meanwhile): its entity is saved, it logs in again.
function command.redirect(account, target, extra)
	local s = S.sessions[account]
	local th = handle_of(target)
	if s == nil or s.ending then
		return false, "no session of this account here"
	end
	if th == nil or target == S.id then
		return false, "not another baseapp: " .. tostring(target)
	end
	s.ending, s.waiters = true, {} -- a kick meanwhile waits for the end of this
	local function done()
		session_over(account, s)
	end
	local function fail(code, why)
		shoal.trycall(s.agent, "lua", "redirect_fail", account, s.epoch, code)
		done()
		return false, why
	end
	local saved = shoal.trycall(s.agent, "lua", "redirect_save", account, s.epoch)
	if not saved then
		done()
		return false, "the session ended meanwhile"
	end
	local won, epoch = S.db:cas_login(account, s.epoch, target)
	if not won then
		return fail(C.LOGGED_IN_ELSEWHERE, "the directory moved on (epoch " .. tostring(epoch) .. ")")
	end
	local ok, host, port = shoal.trycall(th, "lua", "public_address")
	if not ok or port == nil then
		return fail(C.UNAVAILABLE, "the target does not answer")
	end
	local c2s, s2c, nonce = crypto.random(32), crypto.random(32), crypto.random(16)
	local expiry = ticket.now_ms() + S.conf.token_ms
	local expected, yes = shoal.trycall(th, "lua", "expect", account, epoch, nonce, c2s, s2c, expiry, s.name,
		{ extra = extra })
	if not expected or not yes then
		return fail(C.UNAVAILABLE, "the target refused the account")
	end
	local tok = ticket.token(S.keys, account, epoch, expiry, nonce, target)
	shoal.trycall(s.agent, "lua", "redirect_go", account, s.epoch, host, port, tok, c2s, s2c, S.conf.encrypt)
	bump("redirects_out")
	done()
	return true
end

function command.left(account, epoch, agent)
	local s = S.sessions[account]
	if s and s.agent == agent and s.epoch == epoch and not s.ending then
		S.sessions[account] = nil
		S.online = S.online - 1
	end
end

-- A pooled agent whose session is over offers itself for the next
-- connection. -> true (kept), false (the pool is full: it exits).
function command.idle(agent)
	local pool = S.pool
	if #pool >= S.conf.agent_pool or S.draining then
		return false
	end
	pool[#pool + 1] = agent
	return true
end

function command.saved(reason)
	bump("save_" .. tostring(reason))
end

function command.send(account, body, from)
	local s = S.sessions[account]
	if s == nil then
		return false
	end
	return shoal.send(s.agent, "lua", "push", body, account, from) and true or false
end

function command.broadcast(body)
	local n = 0
	for account, s in pairs(S.sessions) do
		if shoal.send(s.agent, "lua", "push", body, account) then
			n = n + 1
		end
	end
	return n
end

function command.sessions()
	local out = {}
	for account, s in pairs(S.sessions) do
		out[account] = { epoch = s.epoch, agent = s.agent }
	end
	return out
end

function command.stats()
	local out = { online = S.online, refused = S.stats.refused }
	for k, v in pairs(S.stats) do
		if k ~= "refused" then
			out[k] = v
		end
	end
	return out
end

-- ---- load report for the registry (baseappmgr's balancer reads it)

-- RSS in MB and CPU (percent of one core since the last report): game/usage.lua.
local function usage()
	S.usage = S.usage or require("game.usage").new()
	return S.usage:sample()
end

local function status()
	local mem, cpu = usage()
	return { online = S.online, cpu = cpu, mem = mem, starting = 0 }
end

local function register(port)
	local r
	if S.conf.registry ~= "" then
		r = require("shoal.registry").new(S.conf.registry)
	else
		r = require("cluster").registry()
	end
	local tags = {} -- the node's tags, so that account.broadcast can pick baseapps by tag
	for tag in shoal.config("tags"):gmatch("[^,%s]+") do
		tags[#tags + 1] = tag
	end
	r:register { type = "baseapp", id = S.id, node = shoal.config("node"), addr = S.conf.public_host, port = port,
		interval = S.conf.heartbeat_ms, status = status(), tags = #tags > 0 and tags or nil }
	r:keepalive(status)
	S.registry = r
	shoal.log(string.format("baseapp %s: registered, gate %s:%d", S.id, S.conf.public_host, port))
end

-- The agent of a new connection: an idle one from the pool, else a new
-- service (kept for reuse when the pool is on). Starting a Lua service and
-- freeing it at the end was a fifth of a login's CPU in bench/run login;
-- a reused agent costs a table.
local function next_agent()
	local pool = S.pool
	local n = #pool
	if n > 0 then
		local a = pool[n]
		pool[n] = nil
		bump("agents_reused")
		return a, false
	end
	local pooled = S.conf.agent_pool > 0
	return shoal.newservice(S.conf.agent, shoal.self(), pooled), not pooled
end

function baseapp.start(conf)
	S = {
		conf = conf,
		id = string.format("%08x", shoal.self()),
		db = db.new(conf.dbmgr),
		keys = ticket.cluster_keys(),
		expects = {}, -- account -> {epoch, nonce, c2s, s2c, expiry_ms, name}
		used = {}, -- token nonce -> expiry_ms (single use)
		fenced = {}, -- account -> {epoch, until_ms}
		sessions = {}, -- account -> {epoch, agent, conn, ending?}
		online = 0,
		pool = {}, -- idle agents (handles), reused last in first out
		stats = { refused = {} },
		backup = backup.new { max = conf.backup_max },
	}
	if conf.command then
		setmetatable(command, { __index = conf.command })
	end
	require("game.baseapp_report").provide(S)
	S.gate = gateserver.watchdog {
		gate = { host = conf.host, port = conf.port, maxconn = conf.maxconn, maxpacket = conf.max_frame,
			idle = conf.idle_ms },
		agent = next_agent,
		listen = function(addr)
			S.address = addr
			shoal.log("baseapp " .. S.id .. ": listening on " .. addr)
			local port = math.tointeger(addr:match(":(%d+)$"))
			S.port = port
			shoal.fork(function()
				local ok, err = pcall(register, port)
				if not ok then
					shoal.error("baseapp " .. S.id .. ": cannot register in the registry: " .. tostring(err))
				end
			end)
		end,
		command = command,
	}
	shoal.fork(function()
		while true do
			shoal.sleep(1000)
			local ok, err = pcall(prune)
			if not ok then
				shoal.error("baseapp " .. S.id .. ": prune failed: " .. tostring(err))
			end
		end
	end)
	shoal.fork(backups_loop)
	shoal.on_exit(function()
		local parts = {}
		for k, v in pairs(command.stats()) do
			if k ~= "refused" then
				parts[#parts + 1] = k .. "=" .. tostring(v)
			end
		end
		for k, v in pairs(S.stats.refused) do
			parts[#parts + 1] = "refused_" .. k .. "=" .. tostring(v)
		end
		table.sort(parts)
		shoal.log("baseapp " .. S.id .. ": exit stats " .. table.concat(parts, " "))
	end)
	return S
end

return baseapp
