-- game/login.lua - the loginapp: a login port speaking docs/protocol.md
-- (sections 4 and 5), over a gate whose watchdog reads the frames itself.
-- service/loginapp.lua starts it; docs/loginapp.md has the whole story.
--
--   local login = require "game.login"
--   login.start(login.config())        -- the login_* keys; returns the server state
--
-- With login_services = N > 1 the service that owns the port (the front)
-- starts N login workers (service/loginapp.lua "worker"); the gate hands
-- each new connection to the next worker in turn and sends its frames
-- straight to it, so N logins are worked on at once, on as many worker
-- threads. The front keeps the one admission control (workers ask it at
-- HELLO, one call) and sums the workers' stats. With N = 1 the front works
-- every login itself, as before.
--
-- One login = one connection: HELLO -> WELCOME (keys agreed), one sealed
-- request (REGISTER, LOGIN or GUEST), one sealed answer (LOGIN_OK or
-- ERROR), close. Between request and answer, in this order:
--   1. admission (at HELLO): a bound on logins in progress, a rate per IP;
--   2. authenticate: the account and its hash from dbmgr, the KDF on
--      shoal.crypto's helper threads (never on a worker);
--   3. place: baseappmgr picks a baseapp; the account directory is read;
--      an old session is kicked (bounded wait for its save); the directory
--      row goes from epoch E to E+1 by compare-and-set (of racing logins
--      exactly one wins); the chosen baseapp is told to expect the account
--      at E+1 with the token's nonce and the game keys (a bounded call);
--   4. LOGIN_OK: gate, token, keys, resume ticket, candidate gates.
-- Every wait is a call with a timeout; no failure leaves a client waiting:
-- it gets an ERROR with a code (and a retry_after_ms when retrying helps).

local shoal = require "shoal"
local crypto = require "shoal.crypto"
local gateserver = require "shoal.gateserver"
local db = require "game.db"
local proto = require "game.proto"
local ticket = require "game.ticket"
local admission = require "game.admission"
local bam = require "game.baseappmgr"
local metrics = require "shoal.metrics"

local login = {}
local C = proto.codes
local E = shoal.errors
local TRANSCRIPT = "shoal login v1"

-- The login_* keys (the schema in core/config_keys.h holds the defaults).
function login.config()
	local cfg = shoal.config
	return {
		host = cfg("login_host"),
		port = cfg("login_port"),
		maxconn = cfg("login_maxconn"),
		max_frame = cfg("login_max_frame"),
		timeout_ms = cfg("login_timeout_ms"),
		max_inflight = cfg("login_max_inflight"),
		rate = cfg("login_rate_per_addr"),
		burst = cfg("login_rate_burst"),
		retry_ms = cfg("login_retry_ms"),
		static_key = cfg("login_static_key"),
		token_ms = cfg("login_token_ms"),
		ticket_ms = cfg("login_ticket_ms"),
		kick_timeout_ms = cfg("login_kick_timeout_ms"),
		dbmgr = cfg("login_dbmgr"),
		baseappmgr = cfg("login_baseappmgr"),
		encrypt = cfg("baseapp_encrypt"),
		call_ms = cfg("call_timeout"),
		services = cfg("login_services"),
	}
end

-- ---- the key exchange (docs/protocol.md section 4), pure

-- static_priv hex ("" = make one) -> the private key (a loaded crypto
-- key: no reload of the raw bytes per login), public
function login.static_keypair(hex)
	if hex == nil or hex == "" then
		local key = crypto.x25519_key()
		return key, key:public()
	end
	local priv = crypto.fromhex(hex)
	assert(priv and #priv == 32, "login_static_key: 64 hex digits expected")
	local key = crypto.x25519_key(priv)
	return key, key:public()
end

-- The server's half: -> WELCOME body, c2s, s2c | nil (a low-order client key).
-- static_key: from static_keypair; eph_priv (tests): raw bytes, nil = a
-- fresh key. A key is made as a key object and used at once, so its public
-- half is computed once (see docs/crypto.md, "x25519_key").
function login.server_handshake(static_key, static_pub, client_pub, eph_priv, nonce)
	local eph = crypto.x25519_key(eph_priv)
	local eph_pub = eph:public()
	nonce = nonce or crypto.random(16)
	local dh1 = static_key:exchange(client_pub)
	local dh2 = dh1 and eph:exchange(client_pub)
	eph:close()
	if not dh2 then
		return nil
	end
	local c2s, s2c = crypto.session_keys(dh1 .. dh2, TRANSCRIPT .. client_pub .. eph_pub .. nonce .. static_pub)
	return proto.encode("WELCOME", proto.VERSION, eph_pub, nonce), c2s, s2c
end

-- The client's half (bots, tests): -> c2s, s2c | nil
function login.client_keys(client_priv, static_pub, server_pub, nonce)
	local client_pub = crypto.x25519_public(client_priv)
	local dh1 = crypto.x25519(client_priv, static_pub)
	local dh2 = dh1 and crypto.x25519(client_priv, server_pub)
	if not dh2 then
		return nil
	end
	return crypto.session_keys(dh1 .. dh2, TRANSCRIPT .. client_pub .. server_pub .. nonce .. static_pub)
end

-- ---- the server

local S -- the one server of this service: conf, db, keys, admission, conns, stats

-- A failure: code, text, retry_ms (a table, so the steps can return it whole).
local function failure(code, text, retry)
	return { code = code, text = text, retry = retry }
end

-- Made with the server (new_state), so a client of this module (a bot) has none.
local logins, login_seconds

local function make_metrics()
	logins = metrics.counter("shoal_login_requests_total",
		"Login connections answered by the loginapp, by result (ok, or the refusal's code).", { "result" })
	login_seconds = metrics.histogram("shoal_login_duration_seconds",
		"From a login connection's open to the loginapp's answer (LOGIN_OK or a refusal), seconds.", { "result" },
		{ 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 })
end

local function count(what)
	S.stats[what] = (S.stats[what] or 0) + 1
end

-- Answers c (sealed once keys exist) and closes it.
local function finish(c, body)
	if c.state == "done" then
		return
	end
	local frame = body
	if c.sealer then
		frame = c.sealer:seal(body)
	end
	gateserver.write(c.conn, frame)
	gateserver.kick(c.conn, S.gate)
	c.state = "done"
	if c.opened then
		login_seconds:observe((shoal.hpc() - c.opened) / 1e9, c.ok and "ok" or "refused")
	end
	if c.admitted then
		c.admitted = false
		S.leave()
	end
end

local function refuse(c, f)
	local what = proto.code_names[f.code] or "error"
	count(what)
	logins:inc(1, what)
	finish(c, proto.error(f.code, f.text, f.retry))
end

-- A db reply that failed: UNAVAILABLE (BUSY for a full queue).
local function db_failure(what, code, text)
	if code == E.FULL then
		return failure(C.BUSY, what .. ": the database is busy", S.conf.retry_ms)
	end
	return failure(C.UNAVAILABLE, what .. ": " .. tostring(text), 500)
end

-- A password job that could not run (FULL queue, timeout): BUSY.
local function kdf_failure(code, text)
	if code == E.FULL then
		return failure(C.BUSY, "password checks are busy", S.conf.retry_ms)
	end
	return failure(C.UNAVAILABLE, "password check failed: " .. tostring(text), 500)
end

-- ---- step 2: who is it -> account id, name, guest credential | failure

local auth = {}

-- Name and password of a LOGIN or REGISTER: nil when both are well
-- formed, else the failure to answer.
local function bad_credentials(m)
	if not proto.valid_name(m.name) then
		return failure(C.BAD_NAME, "bad name")
	end
	if not proto.valid_password(m.password) then
		return failure(C.BAD_PASSWORD, "bad password")
	end
end

function auth.LOGIN(m)
	local bad = bad_credentials(m)
	if bad then
		return bad
	end
	local acc, code, text = S.db:account(m.name)
	if acc == nil then
		if code then
			return db_failure("account lookup", code, text)
		end
		return failure(C.UNKNOWN_ACCOUNT, "no such account")
	end
	if acc.hash == nil then
		return failure(C.WRONG_PASSWORD, "wrong password") -- a guest account has none
	end
	local ok, vcode, vtext = crypto.verify_password(m.password, acc.hash)
	if not ok then
		if vcode then
			return kdf_failure(vcode, vtext)
		end
		return failure(C.WRONG_PASSWORD, "wrong password")
	end
	if crypto.needs_rehash(acc.hash) then
		shoal.fork(function() -- the configured cost went up: store a new hash, best effort
			local h = crypto.hash_password(m.password)
			if h then
				S.db:set_password(acc.id, h)
			end
		end)
	end
	return acc.id, m.name
end

function auth.REGISTER(m)
	local bad = bad_credentials(m)
	if bad then
		return bad
	end
	local h, hcode, htext = crypto.hash_password(m.password)
	if h == nil then
		return kdf_failure(hcode, htext)
	end
	local id, code, text = S.db:create_account(m.name, h)
	if id == nil then
		if code == E.NAMEEXIST then
			return failure(C.NAME_TAKEN, "the name is taken")
		end
		return db_failure("account create", code, text)
	end
	count("registered")
	return id, m.name
end

function auth.GUEST(m)
	local dev, cred = m.device, m.credential
	if #dev < 16 or #dev > 32 or (#cred ~= 0 and #cred ~= 32) then
		return failure(C.BAD_CREDENTIAL, "a device id is 16..32 bytes, a credential 0 or 32")
	end
	local name = "#" .. crypto.tohex(dev)
	local good = ticket.guest_credential(S.keys, dev)
	local acc, code, text = S.db:account(name)
	if acc == nil and code then
		return db_failure("account lookup", code, text)
	end
	if acc then
		if not crypto.equal(cred, good) then
			return failure(C.BAD_CREDENTIAL, "this device's credential does not match")
		end
		return acc.id, name, good
	end
	if #cred ~= 0 then
		return failure(C.BAD_CREDENTIAL, "no account for this device")
	end
	local id
	id, code, text = S.db:create_account(name, nil)
	if id == nil then
		if code == E.NAMEEXIST then -- the same device raced itself
			return failure(C.LOGIN_RACE, "this device is logging in already", 100)
		end
		return db_failure("account create", code, text)
	end
	count("guests")
	return id, name, good
end

-- ---- step 3: where does it play

-- A call to a service that answers values (or raises): -> true, ... | false, code, text
local function ask(ms, addr, ...)
	return shoal.trycalltimeout(ms, addr, "lua", ...)
end

-- The directory's baseapp id is the baseapp service's handle in hex.
local baseapp_handle = require("game.account").baseapp_handle

local GONE = { [E.NOSERVICE] = true, [E.NODEDOWN] = true, [E.EXITING] = true }

-- Kicks the session the directory names (any state but offline) and
-- waits for the baseapp's answer (its entity saved). A baseapp that is
-- gone cannot hold the session any more: the login goes on.
local function kick_old(account, dir)
	local h = baseapp_handle(dir.baseapp)
	if h == nil or dir.state == "offline" or dir.state == "" or dir.state == nil then
		return true
	end
	count("kicks")
	local ok, code, text = ask(S.conf.kick_timeout_ms, h, "kick", account, dir.epoch)
	if ok or GONE[code] then
		return true
	end
	return failure(C.UNAVAILABLE, "the old session did not leave: " .. tostring(text), 500)
end

-- The active baseappmgr through the registry lease "baseappmgr"
-- (game/baseappmgr.lua): the registry is baseapp_registry's (the one the
-- baseapps and the baseappmgrs use; empty: the cluster's). No active one
-- reachable (a standby only, or none before the failure detector freed the
-- lease): UNAVAILABLE with a retry_after, never a wait past the call timeouts.
local function manager()
	if S.mgr == nil then
		local reg = shoal.config("baseapp_registry")
		S.mgr = bam.client { registry = reg ~= "" and reg or nil, timeout = S.conf.call_ms }
	end
	return S.mgr
end

local function place(account, name)
	local conf = S.conf
	local rec, code, why = manager():pick(account)
	if rec == nil and (code == bam.NO_MANAGER or code == bam.NOT_ACTIVE) then
		return failure(C.UNAVAILABLE, "baseappmgr: " .. tostring(why), 1000)
	end
	if rec == nil then
		return failure(C.NO_BASEAPP, "no baseapp: " .. tostring(why), 1000)
	end
	local dir, dcode, dtext = S.db:directory(account)
	if dir == nil then
		return db_failure("directory", dcode, dtext)
	end
	local kicked = kick_old(account, dir)
	if kicked ~= true then
		return kicked
	end
	local won, epoch, etext = S.db:cas_login(account, dir.epoch, rec.id)
	if won == nil then
		return db_failure("directory", epoch, etext)
	end
	if not won then
		count("races")
		return failure(C.LOGIN_RACE, "another login of this account won", 50 + math.random(0, 100))
	end
	local c2s, s2c, nonce = crypto.random(32), crypto.random(32), crypto.random(16)
	local now = ticket.now_ms()
	local expiry = now + conf.token_ms
	local h = baseapp_handle(rec.id)
	if h == nil then
		return failure(C.UNAVAILABLE, "baseappmgr picked " .. tostring(rec.id) .. ", not a baseapp id", 1000)
	end
	local called, yes, etext2 = ask(conf.call_ms, h, "expect", account, epoch, nonce, c2s, s2c, expiry, name)
	if not called then
		return failure(C.UNAVAILABLE, "baseapp " .. rec.id .. ": " .. tostring(etext2 or yes), 500)
	end
	if not yes then -- the baseapp was told of a newer login meanwhile (a kick fenced this epoch)
		count("races")
		return failure(C.LOGIN_RACE, "another login of this account won", 50 + math.random(0, 100))
	end
	local cands = {}
	local list = manager():candidates()
	-- The chosen gate first (the token is for it), then the others best first.
	cands[1] = { host = rec.host, port = rec.port, healthy = true, online = 0 }
	if type(list) == "table" then
		for _, g in ipairs(list) do
			if g.id == rec.id then
				cands[1].online = g.online
			else
				cands[#cands + 1] = g
			end
		end
	end
	return {
		account = account,
		epoch = epoch,
		host = rec.host,
		port = rec.port,
		token = ticket.token(S.keys, account, epoch, expiry, nonce, rec.id),
		c2s = c2s,
		s2c = s2c,
		-- No backup peer yet: the baseapp's first TICKET (right after
		-- ENTER_OK) names it.
		ticket = ticket.resume(S.keys, account, epoch, now + conf.ticket_ms, ticket.resume_secret(c2s, s2c), ""),
		candidates = cands,
	}
end

-- ---- the connection's state machine

local function on_request(c, name, m)
	local f = auth[name]
	if f == nil then
		return refuse(c, failure(C.MALFORMED, "expected REGISTER, LOGIN or GUEST"))
	end
	c.state = "working"
	local account, who, credential = f(m)
	if type(account) == "table" then
		return refuse(c, account)
	end
	local r = place(account, who)
	if r.code then
		return refuse(c, r)
	end
	count("ok")
	logins:inc(1, "ok")
	c.ok = true
	finish(c, proto.encode("LOGIN_OK", proto.VERSION, r.account, r.epoch, r.host, r.port, r.token, r.c2s, r.s2c,
		S.conf.encrypt and 1 or 0, r.ticket, credential or "", r.candidates))
end

local function on_hello(c, body)
	local name, m = proto.decode(body)
	if name ~= "HELLO" then
		return refuse(c, failure(C.MALFORMED, "expected HELLO"))
	end
	if m.version ~= proto.VERSION then
		return refuse(c, failure(C.BAD_VERSION, "version 1 only"))
	end
	local ok, code, retry = S.admit(c.ip)
	if ok and c.state ~= "hello" then -- timed out while a worker asked its front
		S.leave()
		return
	end
	if not ok then
		return refuse(c, failure(code, code == C.BUSY and "too many logins in progress" or "too many logins from "
			.. "your address", retry))
	end
	c.admitted = true
	local welcome, c2s, s2c = login.server_handshake(S.priv, S.pub, m.public)
	if not welcome then
		return refuse(c, failure(C.MALFORMED, "a low-order public key"))
	end
	gateserver.write(c.conn, welcome)
	c.opener, c.sealer = crypto.opener(c2s), crypto.sealer(s2c)
	c.state = "keyed"
end

local function on_frame(conn, body)
	local c = S.conns[conn]
	if c == nil then
		return
	end
	if c.state == "hello" then
		return on_hello(c, body)
	elseif c.state == "keyed" then
		local plain = c.opener:open(body)
		if plain == nil then
			return refuse(c, failure(C.MALFORMED, "a sealed request that does not open"))
		end
		local name, m = proto.decode(plain)
		if name == nil then
			return refuse(c, failure(C.MALFORMED, m))
		end
		-- A bug (or a reply of an unexpected shape) must still answer the
		-- client and free its admission slot.
		local ok, err = xpcall(on_request, shoal.traceback, c, name, m)
		if not ok then
			shoal.error("loginapp: a login failed: " .. tostring(err))
			refuse(c, failure(C.UNAVAILABLE, "internal error", 1000))
		end
	end
	-- "working": one request per connection; more frames are dropped (the
	-- answer to the first closes the connection).
end

local function on_open(conn, addr)
	local c = { conn = conn, ip = addr:match("^(.*):%d+$") or addr, state = "hello", opened = shoal.hpc() }
	S.conns[conn] = c
	-- A client that does not finish its part in time gets TIMEOUT; the
	-- server's own steps are bounded by their calls.
	shoal.timeout(S.conf.timeout_ms, function()
		if S.conns[conn] == c and (c.state == "hello" or c.state == "keyed") then
			refuse(c, failure(C.TIMEOUT, "too slow"))
		end
	end)
end

local function on_close(conn)
	local c = S.conns[conn]
	S.conns[conn] = nil
	if c and c.admitted then
		c.admitted = false
		S.leave()
	end
	if c then
		c.state = "done"
	end
end

local function new_state(conf)
	make_metrics()
	return {
		conf = conf,
		db = db.new(conf.dbmgr),
		keys = ticket.cluster_keys(),
		conns = {},
		stats = {},
	}
end

-- The admission control of this service (the front's, or a lone loginapp's).
local function local_admission(conf)
	local a = admission.new { max_inflight = conf.max_inflight, rate = conf.rate, burst = conf.burst,
		retry_ms = conf.retry_ms }
	S.admission = a
	S.admit = function(ip)
		return a:enter(ip, shoal.now())
	end
	S.leave = function()
		a:leave()
	end
end

local function log_key(conf)
	shoal.log("loginapp: static public key " .. crypto.tohex(S.pub)
		.. (conf.static_key == "" and " (made at start: set login_static_key to keep it)" or ""))
end

-- Starts the login port. -> the server state (S): conf, gate, stats, ...
function login.start(conf)
	S = new_state(conf)
	local_admission(conf)
	local watchdog = {
		gate = { host = conf.host, port = conf.port, maxconn = conf.maxconn, maxpacket = conf.max_frame,
			idle = conf.timeout_ms * 2 },
		listen = function(addr)
			S.address = addr
			shoal.log("loginapp: listening on " .. addr)
		end,
		command = conf.command,
	}
	if (conf.services or 1) <= 1 then
		S.priv, S.pub = login.static_keypair(conf.static_key)
		watchdog.open, watchdog.close, watchdog.message = on_open, on_close, on_frame
	else
		-- The workers load the same static key (made here if the config has none).
		local priv = conf.static_key ~= "" and crypto.fromhex(conf.static_key) or crypto.x25519_keypair()
		assert(priv and #priv == 32, "login_static_key: 64 hex digits expected")
		S.pub = crypto.x25519_public(priv)
		S.workers = {}
		for i = 1, conf.services do
			S.workers[i] = shoal.newservice("loginapp", "worker", shoal.self(), priv)
		end
		local turn = 0
		watchdog.agent = function()
			turn = turn % #S.workers + 1
			return S.workers[turn], false
		end
		local command = conf.command or {}
		watchdog.command = setmetatable({
			admit = S.admit,
			leave = S.leave,
		}, { __index = command })
	end
	log_key(conf)
	S.gate = gateserver.watchdog(watchdog)
	return S
end

-- A login worker of a front (login.start with services > 1): works the
-- connections the front's gate hands it; asks the front at each HELLO.
function login.worker(conf, front, priv)
	S = new_state(conf)
	S.priv = crypto.x25519_key(priv)
	S.pub = S.priv:public()
	S.admit = function(ip)
		local ok, yes, code, retry = shoal.trycall(front, "lua", "admit", ip)
		if not ok then
			return false, C.UNAVAILABLE, 1000
		end
		return yes, code, retry
	end
	S.leave = function()
		shoal.send(front, "lua", "leave")
	end
	gateserver.agent {
		open = on_open,
		message = on_frame,
		close = on_close,
		command = {
			stats = function()
				return S.stats
			end,
		},
	}
	return S
end

-- Counters since start: ok, registered, guests, kicks, races, and one per
-- refusal code name (summed over the workers); inflight now.
function login.stats()
	local out = { inflight = S.admission.inflight }
	local parts = { S.stats }
	for _, w in ipairs(S.workers or {}) do
		local ok, st = shoal.trycall(w, "lua", "stats")
		if ok then
			parts[#parts + 1] = st
		end
	end
	for _, st in ipairs(parts) do
		for k, v in pairs(st) do
			out[k] = (out[k] or 0) + v
		end
	end
	return out
end

return login
