-- cluster.lua - starts the nodes of a cluster layout that run on this machine.
--
--   lua5.4 scripts/cluster.lua LAYOUT print
--   lua5.4 scripts/cluster.lua LAYOUT start  [--machine NAME[,NAME]] [--dir RUNDIR] [--shoal PATH] [--check SECONDS]
--   lua5.4 scripts/cluster.lua LAYOUT status [--machine NAME[,NAME]] [--dir RUNDIR]
--   lua5.4 scripts/cluster.lua LAYOUT stop   [--machine NAME[,NAME]] [--dir RUNDIR] [--wait SECONDS]
--
-- print   the node table computed from the layout (every machine); starts nothing
-- start   writes one config per node into RUNDIR (default ./cluster-run) and
--         starts the nodes of this machine in the background: the machines
--         named by --machine, else those whose host is 127.0.0.1, localhost,
--         ::1 or this host's name. Logs, pid and exit-code files go to RUNDIR.
--         A node that exits within --check seconds (default 1) is reported.
-- status  running / stopped for each node of this machine (and any other
--         node with a pid file in RUNDIR)
-- stop    SIGTERM to those nodes; after --wait seconds (default 15) SIGKILL
--
-- The layout format is in docs/cluster-layout.md. The cluster secret never
-- touches a file: the nodes read it from the environment variable named by
-- the layout's secret_env, and start refuses to run without it.
--
-- Exit codes: 0 done; 1 a node did not start, had to be killed, or (status)
-- is not running; 2 nothing was done: a bad command line or layout, or no
-- secret. Lua 5.4 and a POSIX shell are all it needs; every wait is bounded.

local MAX_NODES = 255
local MAX_TAGS = 16 -- the registry's limit per component
local ROLES = { "global", "baseapp", "cellapp" } -- node order within a machine
local DEMO_START = "cluster_demo" -- the start service when roles[role].start is unset
-- config keys the launcher writes itself; settings may not set them
local OWNED = { node = true, cluster = true, harbor = true, registry = true, tags = true, start = true,
	logfile = true, cluster_secret_env = true, heartbeat_ms = true, heartbeat_misses = true }

-- Failures ------------------------------------------------------------------

local function fail(code, fmt, ...)
	io.stderr:write("cluster: ", string.format(fmt, ...):match("^[^\n]*"), "\n")
	os.exit(code)
end

-- A layout error: raised as a table so that load_layout can add the file name.
local function bad(fmt, ...)
	error({ msg = string.format(fmt, ...) }, 0)
end

-- Shell helpers -----------------------------------------------------------

local function quote(s)
	return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function run(cmd) -- -> true if the command exited 0
	return os.execute(cmd) == true
end

local function output(cmd) -- first line of the command's output, or ""
	local p = io.popen(cmd)
	local line = p and p:read("l") or ""
	if p then
		p:close()
	end
	return line
end

local function sleep(seconds)
	os.execute("sleep " .. seconds)
end

local function absolute(path)
	if path:sub(1, 1) == "/" then
		return path
	end
	return output("pwd") .. "/" .. path:gsub("^%./", "")
end

local function dirname(path)
	return path:match("^(.*)/[^/]*$") or "."
end

local function read_file(path)
	local f = io.open(path, "rb")
	if not f then
		return nil
	end
	local text = f:read("a")
	f:close()
	return text
end

local function write_file(path, text)
	local f, err = io.open(path, "wb")
	if not f then
		fail(1, "cannot write %s: %s", path, err)
	end
	f:write(text)
	f:close()
end

-- The layout --------------------------------------------------------------

local function sorted_keys(t)
	local keys = {}
	for k in pairs(t) do
		keys[#keys + 1] = tostring(k)
	end
	table.sort(keys)
	return keys
end

local function set(list)
	local s = {}
	for _, v in ipairs(list) do
		s[v] = true
	end
	return s
end

-- A value as the error message shows it: strings quoted ("2" is not 2).
local function show(v)
	return type(v) == "string" and string.format("%q", v) or tostring(v)
end

local function check_keys(t, allowed, where)
	for k in pairs(t) do
		if not allowed[k] then
			bad("%s: unknown key '%s' (known keys: %s)", where, tostring(k), table.concat(sorted_keys(allowed), ", "))
		end
	end
end

local function check_list(t, where)
	if type(t) ~= "table" then
		bad("%s must be a list, got %s", where, type(t))
	end
	for k in pairs(t) do
		if math.type(k) ~= "integer" or k < 1 or k > #t then
			bad("%s must be a list { ..., ... }, but has the key '%s'", where, tostring(k))
		end
	end
end

local function check_int(v, lo, hi, what)
	if math.type(v) ~= "integer" or v < lo or v > hi then
		bad("%s must be an integer in %d..%d, got %s", what, lo, hi, show(v))
	end
end

local function check_name(v, what) -- names end up in tags and file names
	if type(v) ~= "string" or not v:match("^[%w_.-]+$") then
		bad("%s must be a name of letters, digits, '_', '.' or '-', got %s", what, show(v))
	end
end

local function check_settings(t, where)
	if type(t) ~= "table" then
		bad("%s must be a table of config keys, got %s", where, type(t))
	end
	for k, v in pairs(t) do
		if type(k) ~= "string" or not k:match("^[%a_][%w_]*$") then
			bad("%s: '%s' is not a config key", where, tostring(k))
		elseif OWNED[k] then
			bad("%s may not set '%s': the launcher writes it from the layout", where, k)
		elseif type(v) ~= "string" and type(v) ~= "number" and type(v) ~= "boolean" then
			bad("%s: %s must be a string, number or boolean, got %s", where, k, type(v))
		end
	end
end

local function tag_list(s, where)
	if type(s) ~= "string" then
		bad("%s must be a string like \"eu,game\", got %s", where, type(s))
	end
	local tags = {}
	for tag in s:gmatch("[^,%s]+") do
		check_name(tag, where .. " (tag '" .. tag .. "')")
		tags[#tags + 1] = tag
	end
	return tags
end

local TOP_KEYS = set { "secret_env", "base_port", "heartbeat_ms", "heartbeat_misses", "machines", "roles", "settings" }
local MACHINE_KEYS = set { "name", "host", "port", "global", "baseapp", "cellapp" }
local ROLE_KEYS = set { "start", "tags", "settings" }

local function check_roles(roles)
	if type(roles) ~= "table" then
		bad("roles must be a table { baseapp = {...}, ... }, got %s", type(roles))
	end
	check_keys(roles, set(ROLES), "roles")
	for role, r in pairs(roles) do
		local where = "roles." .. role
		if type(r) ~= "table" then
			bad("%s must be a table { start = ..., tags = ..., settings = ... }", where)
		end
		check_keys(r, ROLE_KEYS, where)
		if r.start ~= nil and (type(r.start) ~= "string" or not r.start:match("^%S")) then
			bad("%s.start must be \"service args...\", got %s", where, show(r.start))
		end
		r.tags = tag_list(r.tags or "", where .. ".tags")
		r.settings = r.settings or {}
		check_settings(r.settings, where .. ".settings")
	end
end

-- Checks machines[i] (and fills in its defaults); names maps the names of
-- the machines before it to their index.
local function check_machine(m, i, names)
	if type(m) ~= "table" then
		bad("machines[%d] must be a table { name = ..., host = ..., ... }", i)
	end
	check_name(m.name, string.format("machines[%d].name", i))
	local where = string.format("machine '%s'", m.name)
	check_keys(m, MACHINE_KEYS, where)
	if names[m.name] then
		bad("machines %d and %d are both named '%s'", names[m.name], i, m.name)
	end
	if type(m.host) ~= "string" or not m.host:match("^[^%s,@]+$") or #m.host > 63 then
		bad("%s: host must be a host name or address (at most 63 characters), got %s", where, show(m.host))
	end
	if m.port ~= nil then
		check_int(m.port, 1, 65535, where .. ": port")
	end
	for _, role in ipairs { "baseapp", "cellapp" } do
		m[role] = m[role] or 0
		if math.type(m[role]) ~= "integer" or m[role] < 0 then
			bad("%s: %s must be an integer >= 0 (a node count), got %s", where, role, show(m[role]))
		end
	end
	m.global = m.global or {}
	check_list(m.global, where .. ": global")
	local seen = {}
	for _, c in ipairs(m.global) do
		check_name(c, where .. ": a global component")
		if seen[c] then
			bad("%s: global lists '%s' twice", where, c)
		end
		seen[c] = true
	end
end

-- Checks the whole layout and fills in the defaults.
local function check_layout(L)
	check_keys(L, TOP_KEYS, "layout")
	L.secret_env = L.secret_env or "SHOAL_CLUSTER_SECRET"
	if type(L.secret_env) ~= "string" or not L.secret_env:match("^[%a_][%w_]*$") then
		bad("secret_env must name an environment variable, got %s", show(L.secret_env))
	end
	L.base_port = L.base_port or 7001
	check_int(L.base_port, 1, 65535, "base_port")
	L.heartbeat_ms = L.heartbeat_ms or 1000
	check_int(L.heartbeat_ms, 10, 600000, "heartbeat_ms")
	L.heartbeat_misses = L.heartbeat_misses or 3
	check_int(L.heartbeat_misses, 1, 100, "heartbeat_misses")
	L.settings = L.settings or {}
	check_settings(L.settings, "settings")
	L.roles = L.roles or {}
	check_roles(L.roles)
	if L.machines == nil then
		bad("layout: 'machines' is missing")
	end
	check_list(L.machines, "machines")
	local names, registry = {}, nil
	for i, m in ipairs(L.machines) do
		check_machine(m, i, names)
		names[m.name] = i
		if set(m.global).registry then
			if registry then
				bad("machines '%s' and '%s' both list \"registry\": a cluster has one registry", registry, m.name)
			end
			registry = m.name
		end
	end
	if not registry then
		bad("no machine lists \"registry\" in global: one node must host the registry")
	end
end

-- Node ids in file order: per machine its global node, then baseapps, then
-- cellapps. Returns the list of nodes (tables of id, machine, host, port,
-- role, registry, tags, start, settings).
local function compute_nodes(L)
	local total = 0
	for _, m in ipairs(L.machines) do
		total = total + (#m.global > 0 and 1 or 0) + m.baseapp + m.cellapp
	end
	if total > MAX_NODES then
		bad("the layout has %d nodes; a cluster holds at most %d (node ids 1..%d)", total, MAX_NODES, MAX_NODES)
	end
	local nodes, used = {}, {}
	for _, m in ipairs(L.machines) do
		local counts = { global = #m.global > 0 and 1 or 0, baseapp = m.baseapp, cellapp = m.cellapp }
		local nth = 0 -- the node's place on its machine
		for _, role in ipairs(ROLES) do
			for _ = 1, counts[role] do
				local id = #nodes + 1
				local port = m.port and m.port + nth or L.base_port + id - 1
				nth = nth + 1
				if port > 65535 then
					bad("node %d (machine '%s') would listen on port %d, past 65535", id, m.name, port)
				end
				local key = (m.host == "localhost" and "127.0.0.1" or m.host) .. ":" .. port
				if used[key] then
					bad("nodes %d and %d both listen on %s", used[key], id, key)
				end
				used[key] = id
				local r = L.roles[role] or { tags = {}, settings = {} }
				local tags = { role }
				for _, c in ipairs(role == "global" and m.global or {}) do
					tags[#tags + 1] = c
				end
				tags[#tags + 1] = m.name
				for _, t in ipairs(r.tags) do
					tags[#tags + 1] = t
				end
				if #tags > MAX_TAGS then
					bad("node %d has %d tags; the registry takes at most %d", id, #tags, MAX_TAGS)
				end
				nodes[id] = {
					id = id, machine = m.name, host = m.host, port = port, role = role,
					registry = role == "global" and set(m.global).registry or false,
					tags = table.concat(tags, ","), start = r.start or (DEMO_START .. " " .. role),
					settings = r.settings,
				}
			end
		end
	end
	return nodes
end

-- Loads, checks and expands the layout; any problem ends the script with
-- one line and exit code 2.
local function load_layout(path)
	local env = setmetatable({}, { __index = _G }) -- os.getenv and friends work
	local chunk, err = loadfile(path, "t", env)
	if not chunk then
		fail(2, "%s", err)
	end
	local ok, why = pcall(chunk)
	if not ok then -- Lua's message names the file and line already
		why = tostring(why)
		fail(2, "%s", why:find(path, 1, true) == 1 and why or path .. ": " .. why)
	end
	local good, result = pcall(function()
		check_layout(env)
		return compute_nodes(env)
	end)
	if not good then
		fail(2, "%s: %s", path, type(result) == "table" and result.msg or tostring(result))
	end
	return env, result
end

-- Generated configs ---------------------------------------------------------

local function lua_literal(v)
	if math.type(v) == "integer" or type(v) == "boolean" then
		return tostring(v)
	elseif type(v) == "number" then
		return string.format("%.17g", v)
	end
	return string.format("%q", v)
end

-- The layout's folder (its own start services), the demo's, the node's
-- own services; `root` is the node's source tree (set by its config loader).
local function default_luaservice(paths)
	local demo = 'root .. "/examples/cluster/?.lua;" .. root .. "/service/?.lua"'
	if paths.layoutdir == paths.root .. "/examples/cluster" then
		return demo
	end
	return lua_literal(paths.layoutdir .. "/?.lua;") .. " .. " .. demo
end

local function config_text(L, node, nodes, paths)
	local cluster = {}
	for _, n in ipairs(nodes) do
		cluster[#cluster + 1] = string.format("%d@%s:%d", n.id, n.host, n.port)
	end
	local lines = {
		string.format("-- node %d: %s on machine %s. Generated by scripts/cluster.lua from", node.id, node.role,
			node.machine),
		"-- " .. paths.layout .. ": change the layout, not this file (start rewrites it).",
		"node = " .. node.id,
		"cluster = " .. lua_literal(table.concat(cluster, ",")),
		"tags = " .. lua_literal(node.tags),
		"start = " .. lua_literal(node.start),
		"heartbeat_ms = " .. L.heartbeat_ms,
		"heartbeat_misses = " .. L.heartbeat_misses,
		"cluster_secret_env = " .. lua_literal(L.secret_env),
		"logfile = " .. lua_literal(string.format("%s/node%d.log", paths.rundir, node.id)),
	}
	if node.registry then
		lines[#lines + 1] = "registry = true"
	end
	local settings = { luaservice = false } -- false: the default below
	for _, from in ipairs { L.settings, node.settings } do
		for k, v in pairs(from) do
			settings[k] = v
		end
	end
	for _, k in ipairs(sorted_keys(settings)) do
		if k == "luaservice" and settings[k] == false then
			lines[#lines + 1] = "luaservice = " .. default_luaservice(paths)
		else
			lines[#lines + 1] = k .. " = " .. lua_literal(settings[k])
		end
	end
	return table.concat(lines, "\n") .. "\n"
end

-- Node processes ------------------------------------------------------------

local function files(paths, node)
	local base = string.format("%s/node%d", paths.rundir, node.id)
	return { config = base .. ".lua", out = base .. ".out", log = base .. ".log", pid = base .. ".pid",
		exit = base .. ".exit" }
end

-- The pid in node's pid file if that process is alive and is this node
-- (its command line names the node's config: a recycled pid is not ours).
local function running_pid(f)
	local pid = tonumber((read_file(f.pid) or ""):match("%d+"))
	if not pid then
		return nil
	end
	local cmdline = read_file("/proc/" .. pid .. "/cmdline")
	if cmdline then
		return cmdline:find(f.config, 1, true) and pid or nil -- a zombie's is empty
	end
	if read_file("/proc/self/cmdline") then -- /proc works: the pid is gone
		return nil
	end
	return run("kill -0 " .. pid .. " 2>/dev/null") and pid or nil
end

-- A shell waits for the node and writes its exit code, so stop and status
-- can report it; setsid keeps the node out of the terminal's signals.
local WRAPPER = '"$1" "$2" >"$3" 2>&1 </dev/null & echo $! >"$4.tmp" && mv "$4.tmp" "$4"; wait $!; echo $? >"$5"'

-- Starts a node; returns its pid, or nil and why.
local function spawn(shoal, f)
	os.remove(f.pid)
	os.remove(f.exit)
	local setsid = run("command -v setsid >/dev/null 2>&1") and "setsid " or ""
	run(string.format("%ssh -c %s shoal-node %s %s %s %s %s >/dev/null 2>&1 </dev/null &", setsid, quote(WRAPPER),
		quote(shoal), quote(f.config), quote(f.out), quote(f.pid), quote(f.exit)))
	for _ = 1, 100 do -- 5 s
		local pid = tonumber((read_file(f.pid) or ""):match("%d+"))
		if pid then
			return pid
		end
		sleep(0.05)
	end
	return nil, "no pid file after 5 s"
end

local function last_lines(path, n)
	local lines = {}
	for line in (read_file(path) or ""):gmatch("[^\n]+") do
		lines[#lines + 1] = line
		if #lines > n then
			table.remove(lines, 1)
		end
	end
	return lines
end

-- What a node that died at once said: its stderr (a bad config), else the
-- first errors of its log (a port in use, a missing secret).
local function why_it_failed(f)
	local lines = last_lines(f.out, 3)
	if #lines == 0 then
		for line in (read_file(f.log) or ""):gmatch("[^\n]+") do
			if line:find(" ERROR ", 1, true) and #lines < 3 then
				lines[#lines + 1] = line
			end
		end
	end
	return lines
end

local function exit_code(f)
	return (read_file(f.exit) or ""):match("%d+")
end

local function describe(node)
	return string.format("node %d %s %s:%d", node.id, node.role, node.host, node.port)
end

-- Commands --------------------------------------------------------------------

local function local_hosts()
	local hosts = set { "127.0.0.1", "localhost", "::1" }
	local name = output("uname -n 2>/dev/null")
	if name ~= "" then
		hosts[name] = true
	end
	return hosts
end

-- The nodes this invocation acts on: those of --machine's machines, else of
-- the machines on this host; with_pidfiles adds every node that has a pid
-- file in RUNDIR (it was started from here).
local function select_nodes(L, nodes, opts, paths, with_pidfiles)
	local chosen = {}
	if opts.machine then
		local known = {}
		for _, m in ipairs(L.machines) do
			known[m.name] = true
		end
		for name in opts.machine:gmatch("[^,]+") do
			if not known[name] then
				fail(2, "no machine named '%s' in %s (machines: %s)", name, paths.layout, table.concat(sorted_keys(known), ", "))
			end
			chosen[name] = true
		end
	else
		local hosts = local_hosts()
		for _, m in ipairs(L.machines) do
			chosen[m.name] = hosts[m.host] or nil
		end
	end
	local list = {}
	for _, n in ipairs(nodes) do
		if chosen[n.machine] or (with_pidfiles and read_file(files(paths, n).pid)) then
			list[#list + 1] = n
		end
	end
	return list
end

local function cmd_print(_, nodes)
	local rows = { { "id", "machine", "role", "address", "tags", "start" } }
	for _, n in ipairs(nodes) do
		rows[#rows + 1] = { tostring(n.id), n.machine, n.role, n.host .. ":" .. n.port, n.tags, n.start }
	end
	local width = {}
	for _, row in ipairs(rows) do
		for i, cell in ipairs(row) do
			width[i] = math.max(width[i] or 0, #cell)
		end
	end
	for _, row in ipairs(rows) do
		local cells = {}
		for i, cell in ipairs(row) do
			cells[i] = i < #row and cell .. string.rep(" ", width[i] - #cell) or cell
		end
		print(table.concat(cells, "  "))
	end
	return 0
end

local function cmd_start(L, nodes, opts, paths)
	local list = select_nodes(L, nodes, opts, paths, false)
	if #list == 0 then
		fail(2, "no machine of %s is on this host (%s); name one with --machine", paths.layout, output("uname -n"))
	end
	if (os.getenv(L.secret_env) or "") == "" then
		fail(2, "the cluster secret is missing: set the environment variable %s (secret_env in %s) "
			.. "to the same secret on every machine", L.secret_env, paths.layout)
	end
	if not run("test -x " .. quote(opts.shoal)) then
		fail(2, "%s is not an executable shoal binary (build it, or pass --shoal PATH)", opts.shoal)
	end
	if not run("mkdir -p " .. quote(paths.rundir)) then
		fail(1, "cannot create %s", paths.rundir)
	end
	for _, n in ipairs(nodes) do -- every node's config, to copy to the other machines if need be
		write_file(files(paths, n).config, config_text(L, n, nodes, paths))
	end
	local code, started = 0, {}
	for _, n in ipairs(list) do
		local f = files(paths, n)
		local pid = running_pid(f)
		if pid then
			print(string.format("%s already running, pid %d", describe(n), pid))
		else
			local why
			pid, why = spawn(opts.shoal, f)
			if pid then
				started[#started + 1] = n
			else
				print(string.format("%s did not start: %s", describe(n), why))
				code = 1
			end
		end
	end
	if opts.check > 0 then
		sleep(opts.check) -- a bad config, a port in use or a missing service ends a node at once
	end
	for _, n in ipairs(started) do
		local f = files(paths, n)
		local pid = running_pid(f)
		if pid then
			print(string.format("%s pid %d", describe(n), pid))
		else
			code = 1
			print(string.format("%s exited at once (exit %s); see %s and %s:", describe(n), exit_code(f) or "?",
				f.out, f.log))
			for _, line in ipairs(why_it_failed(f)) do
				print("  " .. line)
			end
		end
	end
	return code
end

local function cmd_status(L, nodes, opts, paths)
	local code = 0
	for _, n in ipairs(select_nodes(L, nodes, opts, paths, true)) do
		local f = files(paths, n)
		local pid = running_pid(f)
		if pid then
			print(string.format("%s running pid %d", describe(n), pid))
		else
			code = 1
			local exit = exit_code(f)
			print(string.format("%s stopped%s", describe(n), exit and " (exit " .. exit .. ")" or ""))
		end
	end
	return code
end

local function cmd_stop(L, nodes, opts, paths)
	local code, list, pending = 0, select_nodes(L, nodes, opts, paths, true), {}
	for _, n in ipairs(list) do
		local f = files(paths, n)
		local pid = running_pid(f)
		if pid then
			run("kill -TERM " .. pid)
			pending[#pending + 1] = { node = n, f = f, pid = pid }
		end
	end
	local function still_running()
		local left = {}
		for _, p in ipairs(pending) do
			if running_pid(p.f) then
				left[#left + 1] = p
			end
		end
		return left
	end
	local left = still_running()
	for _ = 1, math.ceil(opts.wait * 10) do
		if #left == 0 then
			break
		end
		sleep(0.1)
		left = still_running()
	end
	for _, p in ipairs(left) do
		code = 1
		print(string.format("%s (pid %d) did not stop within %g s: sending SIGKILL", describe(p.node), p.pid, opts.wait))
		run("kill -KILL " .. p.pid)
	end
	for _ = 1, 50 do -- the wrapper writes the exit code right after the exit (5 s at most)
		local all = true
		for _, p in ipairs(pending) do
			all = all and exit_code(p.f) ~= nil
		end
		if all then
			break
		end
		sleep(0.1)
	end
	local signalled = {}
	for _, p in ipairs(pending) do
		signalled[p.node.id] = true
	end
	for _, n in ipairs(list) do
		local f = files(paths, n)
		os.remove(f.pid)
		if signalled[n.id] then
			print(string.format("%s stopped (exit %s)", describe(n), exit_code(f) or "?"))
		else
			print(string.format("%s not running", describe(n)))
		end
	end
	return code
end

-- Main ----------------------------------------------------------------------

local USAGE = [==[
usage: lua5.4 scripts/cluster.lua LAYOUT print
       lua5.4 scripts/cluster.lua LAYOUT start  [--machine NAME[,NAME]] [--dir RUNDIR] [--shoal PATH]
                                                [--check SECONDS]
       lua5.4 scripts/cluster.lua LAYOUT status [--machine NAME[,NAME]] [--dir RUNDIR]
       lua5.4 scripts/cluster.lua LAYOUT stop   [--machine NAME[,NAME]] [--dir RUNDIR] [--wait SECONDS]
(the layout format: docs/cluster-layout.md)]==]

local COMMANDS = { print = cmd_print, start = cmd_start, status = cmd_status, stop = cmd_stop }

local function main(argv)
	local layout, command = argv[1], argv[2]
	if not layout or layout == "-h" or layout == "--help" or not COMMANDS[command] then
		io.stderr:write(USAGE, "\n")
		os.exit(2)
	end
	local root = dirname(dirname(absolute(arg[0])))
	local opts = { dir = "cluster-run", shoal = root .. "/build/shoal", wait = 15, check = 1 }
	local i = 3
	while argv[i] do
		local key, value = argv[i]:match("^%-%-(%a+)$"), argv[i + 1]
		if not (key == "machine" or key == "dir" or key == "shoal" or key == "wait" or key == "check") or value == nil then
			io.stderr:write("cluster: bad argument '", argv[i], "'\n", USAGE, "\n")
			os.exit(2)
		end
		opts[key] = value
		i = i + 2
	end
	opts.wait, opts.check = tonumber(opts.wait), tonumber(opts.check)
	if not opts.wait or opts.wait <= 0 then
		fail(2, "--wait takes a number of seconds > 0")
	end
	if not opts.check or opts.check < 0 then
		fail(2, "--check takes a number of seconds >= 0")
	end
	local L, nodes = load_layout(layout)
	local abs = absolute(layout)
	local paths = { root = root, layout = abs, layoutdir = dirname(abs), rundir = absolute(opts.dir):gsub("/+$", "") }
	opts.shoal = absolute(opts.shoal)
	os.exit(COMMANDS[command](L, nodes, opts, paths))
end

main(arg)
