-- pulse: this node's liveness heartbeats, sent on behalf of services that
-- are busy but alive (one per node, started by shoal.uniqueservice("pulse")
-- from shoal/registry.lua's keepalive; docs/registry.md, "Busy is not dead").
--
-- A service heartbeats from its own message queue: a cellapp with a
-- backlog of a few thousand messages (500 players entering at once) sends
-- its heartbeat seconds late, and the registry would declare it dead and
-- the failover service recreate its spaces while it is still serving them.
-- Here a heartbeat goes out every interval for each watched life as long
-- as its service makes progress: its queue is empty, or it dispatched at
-- least one message since the last look (shoal.stat). A service stuck in
-- one message, a dead one, a frozen or killed process gets no heartbeat
-- from here, so the registry's one failure detector still sees it die
-- within its bound. The service's own keepalive loop keeps sending its
-- status and registers again when the registry forgot its life.
--
--   watch(owner, addr, type, id, inc, interval [, lease_id])  start or update (a new inc);
--                                                lease_id: the life's etcd lease (etcd backend)
--   forget(owner, type, id)                      stop (the life left)
--   list()                                       -> {{owner, type, id, inc, beats, stalls}, ...}
local shoal = require "shoal"
local registry = require "shoal.registry"

local lives = {} -- key -> entry {owner, r (registry client), interval, beats, stalls, token}

local function key_of(owner, type, id)
	return string.format("%d/%s/%s", owner, type, tostring(id))
end

-- One life's loop: ends when the entry is replaced or forgotten, or when
-- the owner exited.
local function beat_loop(key, e)
	local last = nil -- messages dispatched at the last look
	local stalled_since = nil
	while lives[key] == e do
		shoal.sleep(e.interval)
		if lives[key] ~= e then
			return
		end
		local st = shoal.stat(e.owner)
		if st == nil then -- the service exited: its life ends with it (no more heartbeats)
			lives[key] = nil
			return
		end
		if last == nil or st.messages ~= last or st.mqlen == 0 then
			if stalled_since then
				shoal.log(string.format("pulse: %s/%s (:%08x) makes progress again after %d ms", e.r.spec.type,
					e.r.spec.id, e.owner, shoal.now() - stalled_since))
				stalled_since = nil
			end
			-- STALE (the registry forgot or replaced this life) is the
			-- owner's to handle: its keepalive registers again and
			-- tells us the new inc.
			if e.r:pulse(e.interval) then
				e.beats = e.beats + 1
			end
		else
			e.stalls = e.stalls + 1
			if not stalled_since then
				stalled_since = shoal.now()
				shoal.warn(string.format(
					"pulse: %s/%s (:%08x) dispatched nothing in %d ms with %d messages waiting: no heartbeat from here until it does",
					e.r.spec.type, e.r.spec.id, e.owner, e.interval, st.mqlen))
			end
		end
		last = st.messages
	end
end

local command = {}

function command.watch(owner, addr, type, id, inc, interval, lease_id)
	local key = key_of(owner, type, id)
	local old = lives[key]
	local r = registry.new(addr)
	r.spec, r.inc, r.lease_id = { type = type, id = id }, inc, lease_id
	local e = { owner = owner, r = r, interval = interval, beats = old and old.beats or 0,
		stalls = old and old.stalls or 0 }
	lives[key] = e
	shoal.fork(beat_loop, key, e)
	return true
end

function command.forget(owner, type, id)
	lives[key_of(owner, type, id)] = nil
	return true
end

function command.list()
	local out = {}
	for _, e in pairs(lives) do
		out[#out + 1] = { owner = e.owner, type = e.r.spec.type, id = e.r.spec.id, inc = e.r.inc, beats = e.beats,
			stalls = e.stalls }
	end
	table.sort(out, function(a, b)
		return a.owner < b.owner or (a.owner == b.owner and a.type .. a.id < b.type .. b.id)
	end)
	return out
end

shoal.start(function()
	shoal.dispatch_commands(command)
end)
