-- e2e_objects: the nodes of test_objects.py (distributed objects,
-- lualib/game/object.lua, over test/lua/object_svc.lua). Config keys
-- (read with getenv):
--   obj_role       "db" (node 1: the registry's node) or "worker"
--   obj_db_path    (db) the SQLite file of the dbmgr, registered as the global name "dbmgr"
--   obj_final      (db) a file: once it exists, node 1 fetches obj_ids and logs
--                  "OBJ final id=ID n=N epoch=E" for each, then "OBJ final done"
--   obj_workers    (worker) how many workers to wait for before starting
--   obj_plan       (worker) what to run, e.g. "incr:1:300:fetch" (id, count, mode),
--                  "many:10,20:40" (fetch_many of the ids, count times),
--                  several separated by "+" run at once
--   obj_ids        the ids node 1 reports at the end, e.g. "1,2"
-- A worker logs "OBJ ready", then per plan part "OBJ done part=P acked=A
-- failed=F codes=..."; object_svc logs "OBJ ack id=ID" per acknowledged
-- increment and the library "OBJ acquire ... epoch=E node=N how=H".
local shoal = require "shoal"
local cluster = require "cluster"

local function env(key)
	return shoal.getenv(key) or error("e2e_objects: config " .. key)
end

local function wait_for(what, limit_ms, fn)
	local deadline = shoal.now() + limit_ms
	while true do
		local v = fn()
		if v then
			return v
		end
		if shoal.now() >= deadline then
			error("e2e_objects: no " .. what .. " after " .. limit_ms .. " ms")
		end
		shoal.sleep(20)
	end
end

local function ids_of(text)
	local ids = {}
	for id in text:gmatch("%d+") do
		ids[#ids + 1] = math.tointeger(tonumber(id))
	end
	return ids
end

local function codes_text(codes)
	local parts = {}
	for k, v in pairs(codes or {}) do
		parts[#parts + 1] = k .. ":" .. v
	end
	table.sort(parts)
	return table.concat(parts, ",")
end

local function run_part(svc, part)
	local kind, a, b, c = part:match("^(%a+):([^:]+):([^:]+):?(.*)$")
	local r
	if kind == "incr" then
		r = shoal.calltimeout(600000, svc, "lua", "incr", math.tointeger(tonumber(a)), math.tointeger(tonumber(b)), c)
	elseif kind == "many" then
		r = shoal.calltimeout(600000, svc, "lua", "incr_many", ids_of(a), math.tointeger(tonumber(b)))
	else
		error("e2e_objects: bad plan part " .. part)
	end
	shoal.log(string.format("OBJ done part=%s acked=%d failed=%d codes=%s", part, r.acked, r.failed,
		codes_text(r.codes)))
end

local function db_node()
	local h = assert(shoal.launch("dbmgr", "path=" .. env("obj_db_path")))
	cluster.register("dbmgr", h)
	local svc = shoal.newservice("object_svc", "-", h, 0)
	shoal.log("OBJ db ready")
	local final = env("obj_final")
	wait_for("final file", 600000, function()
		local f = io.open(final)
		return f and f:close()
	end)
	for _, id in ipairs(ids_of(env("obj_ids"))) do
		local v, epoch, why = shoal.call(svc, "lua", "get", id)
		if v then
			shoal.log(string.format("OBJ final id=%d n=%d epoch=%d", id, v.n, epoch))
		else
			shoal.log(string.format("OBJ final id=%d error=%s %s", id, shoal.errname(epoch) or "?", tostring(why)))
		end
	end
	shoal.log("OBJ final done")
end

local function worker()
	local dbm = wait_for("dbmgr", 30000, function()
		return shoal.localname("dbmgr")
	end)
	local svc = shoal.newservice("object_svc", "-", dbm, 0)
	local r = cluster.registry()
	local want = math.tointeger(tonumber(env("obj_workers")))
	wait_for(want .. " workers", 30000, function()
		return #r:query { type = "objects", healthy = true } >= want + 1 -- and node 1's
	end)
	-- Bad input across the cluster: a lend of a type nobody serves.
	for _, c in ipairs(r:query { type = "objects", healthy = true }) do
		if c.status.handle ~= svc then
			local ok, v, code, why = shoal.trycall(c.status.handle, "lua", "object_lend", "nosuchtype", 1,
				{ type = "objects", id = "x", inc = 1 })
			shoal.log(string.format("OBJ hostile ok=%s code=%s why=%s", tostring(ok), shoal.errname(code) or "?",
				tostring(why)))
			break
		end
	end
	shoal.log("OBJ ready")
	local parts = {}
	for part in env("obj_plan"):gmatch("[^+]+") do
		parts[#parts + 1] = part
	end
	for _, part in ipairs(parts) do
		shoal.fork(run_part, svc, part)
	end
end

shoal.start(function()
	shoal.fork(env("obj_role") == "db" and db_node or worker)
end)
