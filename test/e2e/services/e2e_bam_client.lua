-- e2e_bam_client: node 1 of test_baseappmgr.py (the registry's node).
-- Registers three fake baseapps (heartbeating every heartbeat_ms), then
-- streams picks through game/baseappmgr.lua's client and polls the
-- baseappmgrs' state, logging what the test checks:
--   PICK t=MS ok epoch=E mgr=M ms=D      a pick answered by baseappmgr M at lease epoch E
--   PICK t=MS err code=C ms=D            a pick that failed (C: the client's code)
--   STATES t=MS 2=active:1 3=standby:1   the baseappmgrs' state() when it changes
-- t is shoal.now() (ms); D the pick's duration. Config (read with getenv):
--   pick_timeout_ms, pick_every_ms, pick_max (the stream's bound).
local shoal = require "shoal"
local cluster = require "cluster"
local registry = require "shoal.registry"
local mgr = require "game.baseappmgr"

local function num(key)
	return math.tointeger(tonumber(shoal.getenv(key))) or error("e2e_bam_client: config " .. key)
end

local interval = shoal.config("heartbeat_ms")

local function baseapps(r)
	for i = 1, 3 do
		local b = registry.new(r.addr)
		b:register { type = "baseapp", id = "b" .. i, node = 1, addr = "127.0.0.1", port = 7100 + i,
			interval = interval, status = { online = 0, cpu = 0, mem = 0 } }
		b:keepalive()
	end
end

local function stream(timeout, every, max)
	local c = mgr.client { timeout = timeout }
	for i = 1, max do
		local t0 = shoal.now()
		local rec, code = c:pick("acc" .. i)
		local ms = shoal.now() - t0
		if rec then
			shoal.log(string.format("PICK t=%d ok epoch=%d mgr=%s ms=%d", t0, rec.epoch, rec.mgr, ms))
		else
			shoal.log(string.format("PICK t=%d err code=%s ms=%d", t0, tostring(code), ms))
		end
		shoal.sleep(every)
	end
	shoal.log("PICK stream done")
end

-- The state of every baseappmgr the registry lists as alive.
local function states(r, timeout)
	local parts = {}
	for _, comp in ipairs(r:query { type = "baseappmgr", healthy = true }) do
		local ok, s = pcall(shoal.calltimeout, timeout, comp.status.handle, "lua", "state")
		parts[#parts + 1] = ok and string.format("%s=%s:%d", s.id, s.active and "active" or "standby", s.epoch)
			or string.format("%s=unreachable", tostring(comp.id))
	end
	table.sort(parts)
	return table.concat(parts, " ")
end

local function poll(r, timeout, max)
	local last
	for _ = 1, max do
		local ok, now = pcall(states, r, timeout)
		if ok and now ~= last then
			shoal.log(string.format("STATES t=%d %s", shoal.now(), now))
			last = now
		end
		shoal.sleep(50)
	end
end

shoal.start(function()
	local r = cluster.registry()
	baseapps(r)
	local timeout, every, max = num("pick_timeout_ms"), num("pick_every_ms"), num("pick_max")
	shoal.fork(stream, timeout, every, max)
	shoal.fork(poll, r, timeout, max * every // 50 + 1)
	shoal.log("bam client ready")
end)
