-- object_svc REGISTRY DBMGR [INTERVAL]: a service holding objects of type
-- "counter" (game/object.lua) for test_object.lua and
-- test/e2e/test_objects.py. REGISTRY and DBMGR are handles or names
-- (REGISTRY "-": the cluster's); INTERVAL the save interval (default 0).
-- Commands (lua), beside object.commands' object_lend and object_call:
--   incr(id, n, mode)   n increments of value.n (mode "fetch": fetch, +1,
--                       save; "slow": the same with 100 ms (config obj_slow_ms)
--                       between fetch and save; "call": call "add" at the owner), each retried
--                       until acknowledged or n x the timeout passed ->
--                       {acked, failed, codes = {name = count}}; logs
--                       "OBJ ack id=ID" per acknowledged one
--   incr_many(ids, n)   n times: fetch_many(ids), +1 each, save each -> {acked, failed}
--   get(id)             -> value, epoch | nil, code, why (fetches it here)
--   call(id, fn, ...)   objs:call
--   fetch(id)           -> true, epoch | nil, code, why
--   save_bad(id)        fetches id, puts a function in its value, saves -> objs:save's answer
--   hold(id)            fetches id and keeps the copy -> its epoch
--   stale_save(id)      saves the copy hold kept (after it moved away) -> save's answer
--   release(id)         objs:release of a fetched id
--   fetch_many(ids)     -> {epoch, ...} | nil, code, why
--   fetch_range(lo, n, par)  fetches ids lo .. lo + n - 1 from par coroutines
--                       -> {ok = count, ms = elapsed, codes = {name = count}}
--   touch_range(lo, n)  fetches ids lo .. lo + n - 1, +1 each, saves -> count saved
--   acquisitions()      -> {{id, epoch, how}, ...}
--   stop()              leaves the registry and exits
local shoal = require "shoal"
local object = require "game.object"

local reg, dbm, interval = ...
local objs
local command = {}

local function num(v)
	return math.tointeger(tonumber(v)) or v
end

local function count(codes, code)
	local name = shoal.errname(code) or tostring(code)
	codes[name] = (codes[name] or 0) + 1
end

local function one_fetch_incr(id, slow)
	local o, code = objs:fetch(id)
	if o == nil then
		return nil, code
	end
	if slow then
		-- holds it a while (object_hold_ms keeps it here meanwhile)
		shoal.sleep(math.tointeger(tonumber(shoal.getenv("obj_slow_ms") or "")) or 100)
	end
	o.value.n = (o.value.n or 0) + 1
	return objs:save(o)
end

function command.incr(id, n, mode)
	local acked, failed, codes = 0, 0, {}
	local deadline = shoal.now() + n * objs.timeout
	for _ = 1, n do
		local ok, code
		repeat
			if mode == "call" then
				ok, code = objs:call(id, "add", 1)
			else
				ok, code = one_fetch_incr(id, mode == "slow")
			end
			if not ok then
				count(codes, code)
				shoal.sleep(1)
			end
		until ok or shoal.now() >= deadline
		if ok then
			acked = acked + 1
			shoal.log(string.format("OBJ ack id=%d", id))
		else
			failed = failed + 1
		end
	end
	return { acked = acked, failed = failed, codes = codes }
end

function command.incr_many(ids, n)
	local acked, failed, codes = 0, 0, {}
	for _ = 1, n do
		local list, code = objs:fetch_many(ids)
		if list then
			for _, o in ipairs(list) do
				o.value.n = (o.value.n or 0) + 1
				local ok, c = objs:save(o)
				if ok then
					acked = acked + 1
				else
					failed = failed + 1
					count(codes, c)
				end
			end
		else
			failed = failed + 1
			count(codes, code)
		end
	end
	return { acked = acked, failed = failed, codes = codes }
end

function command.get(id)
	local o, code, why = objs:fetch(id)
	if o == nil then
		return nil, code, why
	end
	return o.value, o.epoch
end

function command.call(id, fn, ...)
	return objs:call(id, fn, ...)
end

function command.fetch(id)
	local o, code, why = objs:fetch(id)
	if o == nil then
		return nil, code, why
	end
	return true, o.epoch
end

function command.save_bad(id)
	local o, code, why = objs:fetch(id)
	if o == nil then
		return nil, code, why
	end
	o.value.n, o.value.f = 99, print
	return objs:save(o)
end

local held = {} -- id -> an object kept by stale_save
function command.hold(id)
	held[id] = assert(objs:fetch(id))
	return held[id].epoch
end

function command.stale_save(id)
	local o = held[id]
	o.value.n = -1
	return objs:save(o)
end

function command.release(id)
	local o, code, why = objs:fetch(id)
	if o == nil then
		return nil, code, why
	end
	return objs:release(o)
end

function command.fetch_many(ids)
	local list, code, why = objs:fetch_many(ids)
	if list == nil then
		return nil, code, why
	end
	local out = {}
	for i, o in ipairs(list) do
		out[i] = o.epoch
	end
	return out
end

function command.fetch_range(lo, n, par)
	local ok, codes, running, next_id = 0, {}, par, lo
	local t0 = shoal.now()
	local me = coroutine.running()
	for _ = 1, par do
		shoal.fork(function()
			while next_id < lo + n do
				local id = next_id
				next_id = next_id + 1
				local o, code = objs:fetch(id)
				if o then
					ok = ok + 1
				else
					count(codes, code)
				end
			end
			running = running - 1
			if running == 0 then
				shoal.wakeup(me)
			end
		end)
	end
	shoal.wait()
	return { ok = ok, ms = shoal.now() - t0, codes = codes }
end

function command.touch_range(lo, n)
	local saved = 0
	for id = lo, lo + n - 1 do
		local o = assert(objs:fetch(id))
		o.value.n = (o.value.n or 0) + 1
		if objs:save(o) then
			saved = saved + 1
		end
	end
	return saved
end

function command.acquisitions()
	return objs:acquisitions()
end

function command.stop()
	object.stop()
	shoal.fork(shoal.exit)
end

shoal.start(function()
	shoal.dispatch_commands(object.commands(command))
	objs = object.new { type = "counter", registry = reg ~= "-" and num(reg) or nil, dbmgr = num(dbm),
		save_interval_ms = math.tointeger(tonumber(interval or "0")),
		functions = {
			add = function(value, n)
				value.n = (value.n or 0) + n
				return value.n
			end,
			boom = function()
				error("boom")
			end,
		},
		create = function()
			return { n = 0 }
		end }
end)
