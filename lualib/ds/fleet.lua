-- ds/fleet.lua - fleet definitions for the dsagent (docs/dsagent.md,
-- "Fleets"): loaded from the Lua file of config dsagent_fleets, checked
-- field by field with errors that name the fleet and the field.
--
--   local fleet = require "ds.fleet"
--   local list, errs, builds = fleet.load(path, defaults)  -- good fleets; one line per bad one; name -> build
--   local f, err = fleet.check(def, defaults [, builds])  -- one definition
--   local b, err = fleet.check_build(def)           -- one build {name, version, path}
--
-- The file returns a list of fleets, or {builds = {build...}, fleets = {fleet...}}:
-- a build is { name = "arena", version = "1.4", path = "/abs/server" } (the
-- path must exist and be executable), and a fleet's build is then either a
-- path (starts with "/") or the name of one of the builds.
--
-- A definition: { name = "arena", build = "/abs/path", args = {"--port", "{port}"},
--   env = {K = "v"}, cwd = "/abs/dir", ports = {27000, 27099}, pool = 2, max = 8,
--   and any bound of fleet.BOUNDS (the dsagent_* config key without "dsagent_") }.
local proc = require "shoal.proc"

local fleet = {}

fleet.BOUNDS = { "ready_timeout_ms", "health_timeout_ms", "cpu_percent", "cpu_ms", "rss_mb", "grace_ms",
	"match_grace_ms", "max_match_ms", "backoff_ms", "backoff_max_ms", "crash_count", "crash_window_ms",
	"log_max_kb", "log_keep" }

local KNOWN = { name = true, build = true, args = true, env = true, cwd = true, ports = true, pool = true, max = true,
	buffer_percent = true, min = true, peak = true, retire_idle_ms = true }
for _, k in ipairs(fleet.BOUNDS) do
	KNOWN[k] = true
end

local MAX_ARGS = 200

-- The config's defaults of every bound: {ready_timeout_ms = ..., ...}.
function fleet.defaults(config)
	local d = {}
	for _, k in ipairs(fleet.BOUNDS) do
		d[k] = config("dsagent_" .. k)
	end
	return d
end

local function int(v, lo, hi)
	return math.type(v) == "integer" and v >= lo and v <= hi
end

local NAME = "^[%w_.-]+$"

function fleet.check_build(def)
	if type(def) ~= "table" then
		return nil, "a build must be a table {name, version, path}, not " .. type(def)
	end
	local name = def.name
	if type(name) ~= "string" or not name:match(NAME) or #name > 64 then
		return nil, "a build needs a name of 1-64 letters, digits, '_', '.' or '-'"
	end
	for k in pairs(def) do
		if k ~= "name" and k ~= "version" and k ~= "path" then
			return nil, string.format("build %s: unknown field %s", name, tostring(k))
		end
	end
	if type(def.version) ~= "string" or not def.version:match(NAME) or #def.version > 64 then
		return nil, string.format("build %s: version must be 1-64 letters, digits, '_', '.' or '-'", name)
	end
	if type(def.path) ~= "string" or def.path:sub(1, 1) ~= "/" then
		return nil, string.format("build %s: path must be the absolute path of an executable", name)
	end
	local ok, why = proc.executable(def.path)
	if not ok then
		return nil, string.format("build %s: path %s %s", name, def.path, why)
	end
	return { name = name, version = def.version, path = def.path }
end

function fleet.check(def, defaults, builds)
	if type(def) ~= "table" then
		return nil, "a fleet must be a table, not " .. type(def)
	end
	local name = def.name
	if type(name) ~= "string" or not name:match("^[%w_.-]+$") or #name > 64 then
		return nil, "a fleet needs a name of 1-64 letters, digits, '_', '.' or '-'"
	end
	local function bad(fmt, ...)
		return nil, "fleet " .. name .. ": " .. string.format(fmt, ...)
	end
	for k in pairs(def) do
		if not KNOWN[k] then
			return bad("unknown field %s", tostring(k))
		end
	end
	if type(def.build) ~= "string" then
		return bad("build must be the path of an executable or the name of a build")
	end
	local b = builds and builds[def.build]
	if b == nil and def.build:sub(1, 1) ~= "/" then
		return bad("build %s is not an absolute path nor the name of a build", def.build)
	end
	local path = b and b.path or def.build
	local ok, why = proc.executable(path)
	if not ok then
		return bad("build %s %s", path, why)
	end
	local f = { name = name, build = path, build_name = b and b.name, build_version = b and b.version, args = {},
		env = {}, cwd = def.cwd }
	local args = def.args or {}
	if type(args) ~= "table" or #args > MAX_ARGS then
		return bad("args must be a list of at most %d strings", MAX_ARGS)
	end
	for i, a in ipairs(args) do
		if type(a) ~= "string" and math.type(a) ~= "integer" then
			return bad("args[%d] must be a string", i)
		end
		f.args[i] = tostring(a)
	end
	for k, v in pairs(def.env or {}) do
		if type(k) ~= "string" or not k:match("^[%a_][%w_]*$") or (type(v) ~= "string" and type(v) ~= "number") then
			return bad("env must map names to strings (bad entry %s)", tostring(k))
		end
		f.env[#f.env + 1] = k .. "=" .. tostring(v)
	end
	if #f.env > MAX_ARGS then
		return bad("env must have at most %d entries", MAX_ARGS)
	end
	table.sort(f.env)
	if f.cwd ~= nil and (type(f.cwd) ~= "string" or f.cwd:sub(1, 1) ~= "/") then
		return bad("cwd must be an absolute path")
	end
	local ports = def.ports
	if type(ports) ~= "table" or not int(ports[1], 1, 65535) or not int(ports[2], ports[1] or 1, 65535) then
		return bad("ports must be {first, last} with 1 <= first <= last <= 65535")
	end
	f.first_port, f.last_port = ports[1], ports[2]
	f.pool = def.pool or 1
	if not int(f.pool, 0, 10000) then
		return bad("pool must be an integer 0..10000")
	end
	f.max = def.max or math.max(f.pool * 2, 1)
	if not int(f.max, 1, 100000) or f.max < f.pool then
		return bad("max must be an integer >= pool (and >= 1)")
	end
	-- autoscale: the warm target is max(pool (peak.pool in the peak hours), buffer_percent of the
	-- allocated ones, what min needs); ready ones idle past retire_idle_ms above it are retired
	f.buffer_percent = def.buffer_percent or 0
	if not int(f.buffer_percent, 0, 1000) then
		return bad("buffer_percent must be an integer 0..1000")
	end
	f.min = def.min or 0
	if not int(f.min, 0, f.max) then
		return bad("min must be an integer 0..max")
	end
	f.retire_idle_ms = def.retire_idle_ms or 30000
	if not int(f.retire_idle_ms, 0, 86400000) then
		return bad("retire_idle_ms must be an integer 0..86400000")
	end
	if def.peak ~= nil then
		local pk = def.peak
		if type(pk) ~= "table" or not int(pk.from, 0, 23) or not int(pk.to, 0, 24) or pk.from == pk.to
			or not int(pk.pool, 0, f.max) then
			return bad("peak must be {from = HOUR, to = HOUR, pool = N}: UTC hours 0..23 (to 0..24), from ~= to, "
				.. "pool 0..max")
		end
		f.peak = { from = pk.from, to = pk.to, pool = pk.pool }
	end
	for _, k in ipairs(fleet.BOUNDS) do
		local v = def[k]
		if v == nil then
			v = defaults[k]
		elseif not int(v, 0, 1 << 40) then
			return bad("%s must be a non-negative integer", k)
		end
		f[k] = v
	end
	if f.crash_count < 1 or f.log_max_kb < 1 or f.log_keep > 99 then
		return bad("crash_count and log_max_kb must be >= 1, log_keep <= 99")
	end
	return f
end

-- Loads the fleet file: the list of good fleets and a list of errors (one
-- per bad fleet, or one for the whole file).
function fleet.load(path, defaults)
	if path == nil or path == "" then
		return {}, {}
	end
	local chunk, err = loadfile(path, "t", {})
	if not chunk then
		return {}, { "fleets file " .. path .. ": " .. tostring(err) }
	end
	local ok, defs = pcall(chunk)
	if not ok or type(defs) ~= "table" then
		return {}, { "fleets file " .. path .. ": " .. (ok and "must return a list of fleets" or tostring(defs)) }
	end
	local list, errs, seen, builds = {}, {}, {}, {}
	if defs.fleets ~= nil or defs.builds ~= nil then
		if type(defs.builds or {}) ~= "table" or type(defs.fleets or {}) ~= "table" then
			return {}, { "fleets file " .. path .. ": builds and fleets must be lists" }
		end
		for i, def in ipairs(defs.builds or {}) do
			local b, berr = fleet.check_build(def)
			if b and builds[b.name] then
				b, berr = nil, "build " .. b.name .. ": defined twice"
			end
			if b then
				builds[b.name] = b
			else
				errs[#errs + 1] = string.format("fleets file %s: build %d: %s", path, i, berr)
			end
		end
		defs = defs.fleets or {}
	end
	for i, def in ipairs(defs) do
		local f, ferr = fleet.check(def, defaults, builds)
		if f and seen[f.name] then
			f, ferr = nil, "fleet " .. f.name .. ": defined twice"
		end
		if f then
			seen[f.name] = true
			list[#list + 1] = f
		else
			errs[#errs + 1] = string.format("fleets file %s: entry %d: %s", path, i, ferr)
		end
	end
	return list, errs, builds
end

return fleet
