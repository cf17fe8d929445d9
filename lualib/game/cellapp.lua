-- game/cellapp.lua - the cellapp: the spaces (game.space) placed here by
-- cellappmgr, and the cell part of every entity in them (docs/cellapp.md).
-- service/cellapp.lua starts it.
--
--   local cellapp = require "game.cellapp"
--   cellapp.start(cellapp.config())   -- the cellapp_* keys
--
-- Commands ("lua"), from cellappmgr, baseapps' cell parts (game/cell.lua)
-- and peer cellapps; `space` is a space's name, `epoch` the route's epoch:
--   create(space, opts, epoch)            -> true | nil, why  (opts: width, height, radius, max_speed)
--   restore(space, blob, epoch)           -> true | nil, why  (a snapshot; every mailbox is told the new route)
--   restore_backup(space, epoch)          -> version | nil, why (the peer copy kept here)
--   backup_info(space)                    -> version, epoch | nil (the peer copy kept here)
--   backup_blob(space)                    -> blob, version | nil
--   enter(space, epoch, eid, state, mailbox, seq) -> world | nil, why [, handle, epoch]
--        state {x, y, dir, public, owner}; mailbox {baseapp, agent, account}; seq: the last sequence
--        number this entity used (the next message carries seq + 1); world {space, epoch, width,
--        height, radius, x, y, dir}. why "moved" (handle, epoch: where it went), "frozen", "no space"
--   op(space, epoch, eid, seq, kind, ...)  one-way: "move" x y dir | "prop" key value scope | "where";
--        applied in seq order per entity, exactly once (held while a gap is open); heard only from
--        the agent in the entity's mailbox
--   leave(space, eid, agent)              -> {x, y, dir} | nil (nil also when agent no longer drives eid)
--   snapshot(space)                       -> version (taken now, kept on the peer and in dbmgr)
--   freeze(space)                         -> blob, version  (messages queue from now on)
--   handoff(space, handle, epoch)         -> n queued messages handed to the target; the space leaves
--   unfreeze(space)                       -> n queued messages applied here (a migration that failed)
--   ops(space, list)                      one-way from the source of a migration: queued messages
--   backup(space, version, epoch, blob)   one-way from a peer: its newest snapshot
--   spaces()                              -> {space = {epoch, version, entities}, ...}
--   stats()                               -> {spaces, entities, applied, held, dups, skipped, forwarded, ...}
--   id()                                  -> this cellapp's registry id
local shoal = require "shoal"
local serial = require "shoal.serial"
local space = require "game.space"
local proto = require "game.proto"
local db = require "game.db"
local usage = require "game.usage"
local deliver = require "game.cell_deliver"

local cellapp = {}

function cellapp.config()
	local cfg = shoal.config
	return {
		tick_ms = cfg("cellapp_tick_ms"),
		snapshot_ms = cfg("cellapp_snapshot_ms"),
		heartbeat_ms = cfg("cellapp_heartbeat_ms"),
		registry = cfg("cellapp_registry"),
		dbmgr = cfg("cellapp_dbmgr"),
		max_pending = cfg("cellapp_max_pending"),
		orphan_ms = cfg("cellapp_orphan_ms"),
	}
end

local S -- the cellapp's state

local function bump(k, n)
	S.stats[k] = (S.stats[k] or 0) + (n or 1)
end

-- A space's name as the integer id dbmgr keys entities by (FNV-1a, 52 bits).
function cellapp.db_id(name)
	local h = 0xcbf29ce484222325
	for i = 1, #name do
		h = (h ~ name:byte(i)) * 0x100000001b3
	end
	return (h & 0xfffffffffffff) + 1
end

-- A hosted space: {name, s (game.space), opts, epoch, version, seq = {eid = last applied},
-- applied = {eid = n}, held = {eid = {seq = op}}, mail = {eid = mailbox}, frozen = list | nil,
-- orphan = {eid = node ms it leaves at}: players of a lost baseapp}.
local function host(name, s, opts, epoch)
	local h = { name = name, s = s, opts = opts, epoch = epoch, version = 0, seq = {}, applied = {}, held = {},
		mail = {}, stale = {}, at = {}, orphan = {} }
	S.spaces[name] = h
	S.moved[name] = nil
	return h
end

local function pack(h)
	local now, orphan = shoal.now(), {} -- each orphan's time left (node clocks differ)
	for eid, leaves_at in pairs(h.orphan) do
		orphan[eid] = math.max(0, leaves_at - now)
	end
	return serial.packstring { name = h.name, opts = h.opts, epoch = h.epoch, version = h.version,
		space = h.s:snapshot(), seq = h.seq, applied = h.applied, mail = h.mail, orphan = orphan }
end

local function space_opts(opts)
	return { id = opts.id, width = opts.width, height = opts.height, radius = opts.radius,
		max_speed = opts.max_speed, deliver = deliver }
end

-- Tells every entity's cell part where its space is now.
local function announce(h)
	for eid, m in pairs(h.mail) do
		if not h.orphan[eid] then
			shoal.send(m.agent, "lua", "cell_route", m.account, h.name, shoal.self(), h.epoch)
		end
	end
end

local function from_blob(name, blob, epoch, recovered)
	local ok, t = pcall(serial.unpackstring, blob)
	if not ok or type(t) ~= "table" or t.name ~= name then
		return nil, "not a snapshot of space " .. name
	end
	local s, why = space.restore(space_opts(t.opts), t.space)
	if not s then
		return nil, "restore failed: " .. tostring(why)
	end
	local h = host(name, s, t.opts, epoch)
	h.version, h.seq, h.applied, h.mail = t.version, t.seq or {}, t.applied or {}, t.mail or {}
	local now = shoal.now()
	for eid, left in pairs(t.orphan or {}) do
		h.orphan[eid], h.stale[eid] = now + left, true
	end
	for eid, m in pairs(h.mail) do
		if not h.orphan[eid] then
			s:set_mailbox(eid, m)
		end
		if recovered then -- what came after the snapshot is lost: its cell part enters again
			h.stale[eid] = true
		end
	end
	announce(h)
	return h
end

-- ---- messages of entities, in sequence

-- Every message carries `at`: when it reached the first cellapp that got
-- it, on this cellapp's clock (a message handed on from another cellapp
-- comes with its age). Moves are validated against it, so moves that
-- waited (frozen, held, handed on) and are applied in one burst are
-- judged by the pace the player sent them at, not by the burst.
local run = {}

function run.move(h, eid, at, x, y, dir)
	h.s:move(eid, x, y, dir, at) -- a refusal is delivered (and logged) by the space
end

function run.prop(h, eid, _, key, value, scope)
	local ok, why = h.s:set_prop(eid, key, value, scope)
	if not ok then
		local e = h.s:entity(eid) or { x = 0, y = 0 }
		deliver(h.mail[eid], "refused", { x = e.x, y = e.y, why = "bad property" })
		shoal.warn(string.format("cellapp: space %s entity %d: property %s refused: %s", h.name, eid,
			tostring(key), tostring(why)))
	end
end

function run.where(h, eid)
	local e, m = h.s:entity(eid), h.mail[eid]
	if e and m then
		shoal.send(m.baseapp, "lua", "send", m.account, proto.encode("HERE", h.seq[eid] & 0xffffffff,
			(h.applied[eid] or 0) & 0xffffffff, e.x, e.y, e.dir or 0), shoal.self())
	end
end

local function apply_now(h, at, eid, seq, kind, ...)
	h.seq[eid] = seq
	h.applied[eid] = (h.applied[eid] or 0) + 1
	at = math.max(at, h.at[eid] or at) -- never back in time (a handed-on message vs a direct one)
	h.at[eid] = at
	bump("applied")
	local f = run[kind]
	if f then
		local ok, err = pcall(f, h, eid, at, ...)
		if not ok then
			shoal.error(string.format("cellapp: space %s entity %d: %s failed: %s", h.name, eid, kind, err))
		end
	end
end

local function pack_op(at, ...)
	local op = table.pack(...)
	op.at = at
	return op
end

-- The held messages of eid that are next in sequence, applied.
local function drain(h, eid)
	local held = h.held[eid]
	while held and held[h.seq[eid] + 1] do
		local n = h.seq[eid] + 1
		local op = held[n]
		held[n], held.n = nil, held.n - 1
		apply_now(h, op.at, eid, n, table.unpack(op, 1, op.n))
	end
	if held and held.n == 0 then
		h.held[eid] = nil
	end
end

-- One message of entity eid: applied when it is the next in sequence,
-- held while an earlier one is missing (a migration's queue still on its
-- way), dropped when already applied. Past cellapp_max_pending held
-- messages the gap is given up (logged, counted): the earliest held goes on.
local function apply(h, at, eid, seq, kind, ...)
	local last = h.seq[eid]
	if last == nil then
		bump("unknown")
		return
	end
	if h.orphan[eid] then -- its baseapp is lost: a late message of the old session is not heard
		bump("orphan_ops")
		return
	end
	if seq <= last then
		bump("dups")
		return
	end
	if seq == last + 1 then
		apply_now(h, at, eid, seq, kind, ...)
		return drain(h, eid)
	end
	local held = h.held[eid] or { n = 0 }
	h.held[eid] = held
	if held[seq] == nil then
		held[seq], held.n = pack_op(at, kind, ...), held.n + 1
		bump("held")
	end
	if held.n <= S.conf.max_pending then
		return
	end
	local first = math.huge
	for k in pairs(held) do
		if k ~= "n" and k < first then
			first = k
		end
	end
	shoal.warn(string.format("cellapp: space %s entity %d: messages %d..%d never came: skipped", h.name, eid,
		last + 1, first - 1))
	bump("skipped", first - last - 1)
	h.seq[eid] = first - 1
	drain(h, eid)
end

-- A message for a space: applied, queued (frozen), or sent on (with its
-- age) to where the space went.
local function receive(name, at, eid, seq, kind, ...)
	local h = S.spaces[name]
	if h then
		if h.frozen then
			h.frozen[#h.frozen + 1] = pack_op(at, eid, seq, kind, ...)
			bump("queued")
		else
			apply(h, at, eid, seq, kind, ...)
		end
		return
	end
	local moved = S.moved[name]
	if moved then
		bump("forwarded")
		local op = table.pack(eid, seq, kind, ...)
		op.age = shoal.now() - at
		shoal.send(moved.handle, "lua", "ops", name, { op })
	else
		bump("lost")
	end
end

-- ---- commands

local command = {}

function command.id()
	return S.id
end

-- nil, or why the options of a new space are not usable.
local function bad_options(name, opts, epoch)
	if type(name) ~= "string" or name == "" then
		return "a space's name is a non-empty string"
	end
	if type(opts) ~= "table" or math.type(epoch) ~= "integer" then
		return "create(name, {width, height, radius, max_speed}, epoch)"
	end
	for _, k in ipairs { "width", "height", "radius", "max_speed" } do
		local v = opts[k] or (k == "max_speed" and 0 or nil)
		if type(v) ~= "number" or v ~= v or v == math.huge or v < 0 or (v == 0 and k ~= "max_speed") then
			return string.format("%s must be a finite number > 0 (max_speed >= 0), got %s", k, tostring(opts[k]))
		end
	end
end

function command.create(name, opts, epoch)
	local bad = bad_options(name, opts, epoch)
	if bad then
		shoal.warn(string.format("cellapp %s: create %s refused: %s", S.id, tostring(name), bad))
		return nil, "bad space options: " .. bad
	end
	if S.spaces[name] then
		return nil, "space " .. name .. " is here already"
	end
	local ok, s = pcall(space.new, space_opts { id = name, width = opts.width, height = opts.height,
		radius = opts.radius, max_speed = opts.max_speed })
	if not ok or not s then
		return nil, "bad space options: " .. tostring(s)
	end
	host(name, s, { id = name, width = opts.width, height = opts.height, radius = opts.radius,
		max_speed = opts.max_speed }, epoch)
	shoal.log(string.format("cellapp %s: space %s created (epoch %d, %sx%s, radius %s)", S.id, name, epoch,
		tostring(opts.width), tostring(opts.height), tostring(opts.radius)))
	return true
end

function command.restore(name, blob, epoch, recovered)
	local h, why = from_blob(name, blob, epoch, recovered)
	if not h then
		shoal.warn(string.format("cellapp %s: space %s: %s", S.id, name, why))
		return nil, why
	end
	shoal.log(string.format("cellapp %s: space %s restored (epoch %d, version %d, %d entities)", S.id, name, epoch,
		h.version, h.s:count()))
	return true
end

-- Newest wins: the higher epoch (a stale copy from a cellapp that woke up
-- after its space was recovered elsewhere has a lower one), then the higher version.
function command.backup(name, version, epoch, blob)
	local b = S.backups[name]
	if b == nil or b.epoch < epoch or (b.epoch == epoch and b.version < version) then
		S.backups[name] = { version = version, epoch = epoch, blob = blob }
	end
end

function command.backup_info(name)
	local b = S.backups[name]
	if b then
		return b.version, b.epoch
	end
end

function command.backup_blob(name)
	local b = S.backups[name]
	if b then
		return b.blob, b.version
	end
end

function command.restore_backup(name, epoch)
	local b = S.backups[name]
	if not b then
		return nil, "no copy of space " .. name .. " here"
	end
	local ok, why = command.restore(name, b.blob, epoch, true)
	if not ok then
		return nil, why
	end
	return b.version
end

function command.enter(name, epoch, eid, st, mailbox, seq)
	local h = S.spaces[name]
	if h == nil then
		local moved = S.moved[name]
		if moved then
			return nil, "moved", moved.handle, moved.epoch
		end
		return nil, "no space"
	end
	if h.frozen then
		return nil, "frozen"
	end
	local s = h.s
	local fresh = true
	if s:entity(eid) == nil then
		local ok, why = s:enter(eid, { x = st.x, y = st.y, dir = st.dir or 0, public = st.public or {},
			owner = st.owner or {}, mailbox = mailbox })
		if not ok then -- a saved position this space refuses (smaller bounds, a bad value): its centre
			shoal.warn(string.format("cellapp %s: space %s entity %d: position refused (%s): the centre instead",
				S.id, name, eid, tostring(why)))
			ok, why = s:enter(eid, { x = h.opts.width / 2, y = h.opts.height / 2, dir = 0, public = st.public or {},
				owner = st.owner or {}, mailbox = mailbox })
			if not ok then
				return nil, tostring(why)
			end
		end
		bump("enters")
	else -- the cell part attaches again: the space moved (its sequence goes on), was
		-- recovered from a snapshot or the session is a new one (it starts again from seq)
		local old = h.mail[eid]
		fresh = h.stale[eid] or old == nil or old.agent ~= mailbox.agent
		s:set_mailbox(eid, mailbox)
		bump("reattached")
	end
	h.mail[eid], h.stale[eid], h.orphan[eid] = mailbox, nil, nil
	if fresh then
		h.seq[eid], h.applied[eid], h.held[eid] = seq or 0, 0, nil
	end
	local e = s:entity(eid)
	return { space = name, epoch = h.epoch, width = h.opts.width, height = h.opts.height, radius = h.opts.radius,
		x = e.x, y = e.y, dir = e.dir or 0, fresh = fresh }
end

-- agent: the cell part's agent that asks (nil: this cellapp itself). A
-- session that ended elsewhere (a woken baseapp whose player resumed on
-- another one) cannot take away the entity its successor now drives.
function command.leave(name, eid, agent)
	local h = S.spaces[name]
	if h == nil then
		return nil
	end
	local m = h.mail[eid]
	if agent ~= nil and m ~= nil and m.agent ~= agent then
		bump("stale_leaves")
		return nil
	end
	local e = h.s:entity(eid)
	h.s:leave(eid)
	h.mail[eid], h.seq[eid], h.applied[eid], h.held[eid], h.stale[eid], h.at[eid] = nil, nil, nil, nil, nil, nil
	h.orphan[eid] = nil
	if e then
		return { x = e.x, y = e.y, dir = e.dir }
	end
end

-- One-way from an agent that no longer serves eid's session (it heard
-- of a recovered space): the entity leaves if that agent is still its mailbox.
function command.gone(name, eid, agent)
	local h = S.spaces[name]
	local m = h and h.mail[eid]
	if m and m.agent == agent then
		command.leave(name, eid)
		bump("orphans")
	end
end

-- A baseapp is gone (dead or left): its players' cell parts stay where
-- they are for cellapp_orphan_ms, deaf (nothing goes to the lost baseapp,
-- nothing late from it is applied), so a player that resumes on another
-- baseapp goes on from its live position instead of its last save. Then
-- they leave (sweep_orphans).
local function baseapp_gone(id)
	local leaves_at = shoal.now() + S.conf.orphan_ms
	for name, h in pairs(S.spaces) do
		local n = 0
		for eid, m in pairs(h.mail) do
			if string.format("%08x", m.baseapp) == id and not h.orphan[eid] then
				h.orphan[eid], h.stale[eid] = leaves_at, true -- its next enter is a new session
				h.s:set_mailbox(eid, nil)
				n = n + 1
			end
		end
		if n > 0 then
			bump("orphaned", n)
			shoal.log(string.format("cellapp %s: space %s: %d entities of the lost baseapp %s wait %d ms for a resume",
				S.id, name, n, id, S.conf.orphan_ms))
		end
	end
	if S.conf.orphan_ms == 0 then
		cellapp.sweep_orphans(shoal.now())
	end
end

-- The orphans whose time is up leave their spaces.
function cellapp.sweep_orphans(now)
	for name, h in pairs(S.spaces) do
		local gone = {}
		for eid, leaves_at in pairs(h.orphan) do
			if now >= leaves_at then
				gone[#gone + 1] = eid
			end
		end
		for _, eid in ipairs(gone) do
			command.leave(name, eid)
		end
		if #gone > 0 then
			bump("orphans", #gone)
			shoal.log(string.format("cellapp %s: space %s: %d entities of a lost baseapp left (no resume in %d ms)",
				S.id, name, #gone, S.conf.orphan_ms))
		end
	end
end

-- source: the sender. Only the agent that drives the entity now is
-- heard: a woken baseapp's agent whose player resumed elsewhere meanwhile
-- would otherwise move it (or get a HERE to the new session's client).
function command.op(source, name, epoch, eid, seq, kind, ...)
	local h = S.spaces[name]
	local m = h and h.mail[eid]
	if m and m.agent ~= source then
		bump("stale_ops")
		return
	end
	receive(name, shoal.now(), eid, seq, kind, ...)
end

function command.ops(name, list)
	local now = shoal.now()
	for _, op in ipairs(list) do
		receive(name, now - (op.age or 0), table.unpack(op, 1, op.n))
	end
end

-- A snapshot of h now: its version grows; the copy goes to a peer cellapp
-- and to dbmgr (newest wins by version on recovery).
local function snapshot(h)
	h.version = h.version + 1
	local blob = pack(h)
	local peer = S.peer()
	if peer then
		shoal.send(peer, "lua", "backup", h.name, h.version, h.epoch, blob)
	end
	if S.db then
		local version, name = h.version, h.name
		shoal.fork(function()
			local ok, code = S.db:save("space", cellapp.db_id(name), blob)
			if not ok then
				shoal.warn(string.format("cellapp %s: space %s version %d not saved: %s", S.id, name, version,
					tostring(code)))
			end
		end)
	end
	bump("snapshots")
	return h.version, blob
end

function command.snapshot(name)
	local h = S.spaces[name]
	if h == nil then
		return nil, "no space " .. tostring(name)
	end
	return (snapshot(h))
end

function command.freeze(name)
	local h = S.spaces[name]
	if h == nil then
		return nil, "no space " .. tostring(name)
	end
	if h.frozen then
		return nil, "space " .. name .. " is frozen already"
	end
	h.frozen = {}
	local version, blob = snapshot(h)
	return blob, version
end

function command.handoff(name, handle, epoch)
	local h = S.spaces[name]
	if h == nil or not h.frozen then
		return nil, "space " .. tostring(name) .. " is not frozen here"
	end
	local list, now = h.frozen, shoal.now()
	for _, op in ipairs(list) do
		op.age, op.at = now - op.at, nil
	end
	S.spaces[name] = nil
	S.moved[name] = { handle = handle, epoch = epoch }
	shoal.send(handle, "lua", "ops", name, list)
	shoal.log(string.format("cellapp %s: space %s handed to %s at epoch %d (%d queued messages)", S.id, name,
		shoal.address(handle), epoch, #list))
	return #list
end

function command.unfreeze(name)
	local h = S.spaces[name]
	if h == nil or not h.frozen then
		return 0
	end
	local list = h.frozen
	h.frozen = nil
	for _, op in ipairs(list) do
		apply(h, op.at, table.unpack(op, 1, op.n))
	end
	return #list
end

-- Drops a space (cellappmgr: it lives elsewhere now, e.g. after this
-- cellapp was declared dead while frozen).
function command.drop(name)
	if S.spaces[name] then
		S.spaces[name] = nil
		shoal.warn(string.format("cellapp %s: space %s dropped (it lives elsewhere now)", S.id, name))
		return true
	end
	return false
end

function command.spaces()
	local out = {}
	for name, h in pairs(S.spaces) do
		out[name] = { epoch = h.epoch, version = h.version, entities = h.s:count() }
	end
	return out
end

local function entity_count()
	local n = 0
	for _, h in pairs(S.spaces) do
		n = n + h.s:count()
	end
	return n
end

function command.stats()
	local out = { spaces = 0, entities = entity_count(), refused = {} }
	for _, h in pairs(S.spaces) do
		out.spaces = out.spaces + 1
		for why, n in pairs(h.s:stats().refused or {}) do
			out.refused[why] = (out.refused[why] or 0) + n
		end
	end
	for k, v in pairs(S.stats) do
		out[k] = v
	end
	return out
end

-- ---- registry, ticks, snapshots

local function status()
	local mem, cpu = S.usage:sample()
	local n = 0
	for _ in pairs(S.spaces) do
		n = n + 1
	end
	return { handle = shoal.self(), entities = entity_count(), spaces = n, cpu = cpu, mem = mem }
end

local function register()
	local r
	if S.conf.registry ~= "" then
		r = require("shoal.registry").new(S.conf.registry)
	else
		r = require("cluster").registry()
	end
	local host, port = require("shoal.lease").node_address() -- its node's harbor: what a probe checks
	r:register { type = "cellapp", id = S.id, node = shoal.config("node"), addr = host, port = port,
		interval = S.conf.heartbeat_ms, status = status() }
	r:keepalive(status)
	-- A new life (the registry declared the old one dead, e.g. after a
	-- SIGSTOP): cellappmgr has recreated this cellapp's spaces elsewhere,
	-- so the ones held here are stale and must not serve.
	r:on_register(function()
		for name in pairs(S.spaces) do
			command.drop(name)
		end
	end)
	-- The peer that keeps copies of the snapshots: the next live cellapp by id.
	local peers = {}
	local function learn(c)
		local id = tostring(c.id)
		if id ~= S.id then
			if c.event == "leave" or c.state == "dead" then
				peers[id] = nil
			elseif c.status and math.type(c.status.handle) == "integer" then
				peers[id] = c.status.handle
			end
		end
	end
	for _, c in ipairs(r:watch({ type = "cellapp" }, learn)) do
		learn(c)
	end
	r:watch({ type = "baseapp" }, function(c)
		if c.event == "leave" or c.state == "dead" then
			baseapp_gone(tostring(c.id))
		end
	end)
	S.peer = function()
		local best
		for id, handle in pairs(peers) do
			local after = id > S.id
			if best == nil or (after and not best.after) or (after == best.after and id < best.id) then
				best = { id = id, handle = handle, after = after }
			end
		end
		return best and best.handle
	end
	S.registry = r
	shoal.log(string.format("cellapp %s: registered", S.id))
end

local function every(ms, fn, what)
	shoal.fork(function()
		while true do
			shoal.sleep(ms)
			local t0 = shoal.hpc()
			local ok, err = pcall(fn)
			if not ok then
				shoal.error(string.format("cellapp %s: %s failed: %s", S.id, what, tostring(err)))
			end
			local took = (shoal.hpc() - t0) / 1e6
			if took > 100 then
				shoal.warn(string.format("cellapp %s: a %s took %.0f ms (%d entities)", S.id, what, took,
					entity_count()))
			end
		end
	end)
end

-- What the debug console's `spaces` and `entity ID` show of this cellapp.
local function reports()
	local report = require "game.report"
	report.provide("spaces", function()
		local names = {}
		for name in pairs(S.spaces) do
			names[#names + 1] = name
		end
		table.sort(names)
		local lines = { string.format("cellapp %s: %d spaces, %d entities", S.id, #names, entity_count()) }
		for _, name in ipairs(names) do
			local h = S.spaces[name]
			lines[#lines + 1] = string.format("  space %s %s", name, report.fields { epoch = h.epoch,
				version = h.version, entities = h.s:count(), frozen = h.frozen and true or false })
		end
		return lines, #names
	end)
	report.provide("entity", function(eid)
		local lines = {}
		for name, h in pairs(S.spaces) do
			local e = h.s:entity(eid)
			if e then
				lines[#lines + 1] = string.format("cellapp %s space %s: entity %d %s", S.id, name, eid,
					report.fields { x = e.x, y = e.y, dir = e.dir, public = e.public, owner = e.owner })
			end
		end
		return #lines > 0 and lines or nil
	end)
end

function cellapp.start(conf)
	S = {
		conf = conf,
		id = string.format("%08x", shoal.self()),
		spaces = {}, -- name -> hosted space
		moved = {}, -- name -> {handle, epoch}: handed on (late messages follow it)
		backups = {}, -- name -> {version, epoch, blob}: a peer's newest snapshot
		db = conf.dbmgr ~= "" and db.new(conf.dbmgr) or nil,
		usage = usage.new(),
		stats = {},
		peer = function() end,
	}
	shoal.dispatch_commands(command, "lua", { op = true })
	reports()
	every(conf.tick_ms, function()
		local now = shoal.now()
		for _, h in pairs(S.spaces) do
			h.s:tick(now)
		end
	end, "tick")
	every(1000, function()
		cellapp.sweep_orphans(shoal.now())
	end, "orphan sweep")
	every(conf.snapshot_ms, function()
		for _, h in pairs(S.spaces) do
			if not h.frozen then
				snapshot(h)
			end
		end
	end, "snapshot")
	local ok, err = pcall(register)
	if not ok then
		shoal.error(string.format("cellapp %s: cannot register in the registry: %s", S.id, tostring(err)))
	end
	shoal.on_exit(function()
		local parts = {}
		for k, v in pairs(command.stats()) do
			if type(v) == "table" then
				for why, n in pairs(v) do
					parts[#parts + 1] = k .. "_" .. tostring(why):gsub("%s", "_") .. "=" .. tostring(n)
				end
			else
				parts[#parts + 1] = k .. "=" .. tostring(v)
			end
		end
		table.sort(parts)
		shoal.log("cellapp " .. S.id .. ": exit stats " .. table.concat(parts, " "))
	end)
	return S
end

return cellapp
