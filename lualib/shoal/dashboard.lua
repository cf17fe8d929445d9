-- shoal/dashboard.lua - the web dashboard of the node's HTTP endpoint
-- (service/metrics.lua serves it; docs/operations.md, "Dashboard").
--
--   GET /dashboard/           web/dashboard/index.html (config dashboard_dir)
--   GET /dashboard/FILE       its dashboard.css and dashboard.js (read once, at start)
--   GET /api/cluster          one JSON object: what the page shows
--
-- The JSON is gathered on each request, nothing in between: the registry's
-- components and leases, and from every live node, in parallel, each call
-- bounded by metrics_timeout_ms: its services (that node's .metrics), the
-- recent failover events (.failover), the space map (.cellappmgr, the
-- active one), the DS fleets and processes (.dsagent, .dscontroller and
-- their `ds` reports) and the dsagents' alerts. A part that fails or does
-- not answer in time is listed in the node's "unavailable", never waited for.

local shoal = require "shoal"
local cjson = require "cjson"
local http = require "shoal.http"
require "shoal.debug" -- the "debug" protocol: the `ds` reports

local dashboard = {}

local enabled, timeout
local files = {} -- "/dashboard/x" -> {body, type}
local TYPES = { html = "text/html; charset=utf-8", css = "text/css; charset=utf-8",
	js = "text/javascript; charset=utf-8" }
local FILES = { "index.html", "dashboard.css", "dashboard.js" } -- the folder's files served
local FILE_MAX = 1 << 20 -- bytes of one file at most
local RECENT = 20 -- failover events asked of each node
local JSON = "application/json; charset=utf-8"

function dashboard.init(opts)
	timeout = opts.timeout
	enabled = shoal.config("dashboard")
	if not enabled then
		return
	end
	local dir = shoal.config("dashboard_dir")
	for _, name in ipairs(FILES) do
		local f, err = io.open(dir .. "/" .. name, "rb")
		if not f then
			error(string.format("dashboard: cannot read %s (config dashboard_dir): %s", name, err), 0)
		end
		local body = f:read(FILE_MAX + 1) or ""
		f:close()
		if #body > FILE_MAX then
			error(string.format("dashboard: %s/%s is larger than %d bytes", dir, name, FILE_MAX), 0)
		end
		files["/dashboard/" .. name] = { body = body, type = TYPES[name:match("%.(%w+)$")] }
	end
	if not files["/dashboard/index.html"] then
		error(string.format("dashboard: no index.html in dashboard_dir %q", dir), 0)
	end
	files["/dashboard/"] = files["/dashboard/index.html"]
end

-- Runs every fn in parallel; returns when all ended (each one bounds itself).
local function parallel(fns)
	for _, r in ipairs(shoal.parallel(fns)) do
		if not r[1] then
			shoal.warn("dashboard: " .. tostring(r[2]))
		end
	end
end

-- The handle NAME has on node (its harbor's `query`, bounded), or nil, a
-- code and why. The harbor answers INVAL for a name it does not know.
local function lookup(node, name)
	if node == shoal.nodeof(shoal.self()) then -- this node: no harbor needed (nor there without a cluster)
		local h = shoal.query(name)
		if not h then
			return nil, shoal.errors.INVAL, string.format("no service %s on node %d", name, node)
		end
		return h
	end
	local ok, reply, text = shoal.trycalltimeout(timeout, shoal.harbor_of(node), "text", "query " .. name)
	if not ok then
		return nil, reply, text
	end
	return tonumber(reply:sub(2), 16)
end

-- A bounded call of NAME on node: the first result, or nil and why (nil
-- why: the node runs no NAME, or it exited meanwhile).
local function ask(node, name, proto, ...)
	local h, code, why = lookup(node, name)
	if not h then
		return nil, code ~= shoal.errors.INVAL and tostring(why or code) or nil
	end
	local r = table.pack(shoal.trycalltimeout(timeout, h, proto, ...))
	if not r[1] then
		return nil, r[2] ~= shoal.errors.NOSERVICE and tostring(r[3] or r[2]) or nil
	end
	if r[2] == nil and r[4] then -- a command's (nil, code, text)
		return nil, tostring(r[4])
	end
	return r[2]
end

-- This node's services, for the other nodes' dashboards (metrics' "services").
function dashboard.services()
	local out = {}
	for i, h in ipairs(shoal.list()) do
		if i % 500 == 0 then
			shoal.yield()
		end
		local st = shoal.stat(h)
		if st then
			out[#out + 1] = { handle = string.format(":%08x", h), module = st.module, messages = st.messages,
				mqlen = st.mqlen, cpu = st.cpu, mem = st.mem }
		end
		if #out >= 1000 then
			break
		end
	end
	return out
end

local function node_parts(node, out, spaces)
	local na = {}
	out.unavailable = na
	local function part(key, name, proto, ...)
		local args = table.pack(...)
		return function()
			local v, why = ask(node, name, proto, table.unpack(args, 1, args.n))
			if v ~= nil then
				out[key] = v
			elseif why then -- a service that is not there is not missing
				na[#na + 1] = key .. ": " .. why
			end
		end
	end
	parallel {
		part("services", ".metrics", "lua", "services"),
		part("failovers", ".failover", "lua", "recent", RECENT),
		part("ds_agent", ".dsagent", "debug", "report", "ds"),
		part("ds_alerts", ".dsagent", "lua", "alerts"),
		part("ds_controller", ".dscontroller", "debug", "report", "ds"),
		function()
			local v = ask(node, ".cellappmgr", "lua", "spaces")
			if type(v) == "table" then
				for name, r in pairs(v) do
					spaces[#spaces + 1] = { space = name, cellapp = string.format(":%08x", r.handle or 0),
						cellapp_id = r.cellapp, epoch = r.epoch, mgr_node = node }
				end
			end
		end,
	}
	if #na == 0 then
		out.unavailable = nil
	end
end

local function gather()
	local t0 = shoal.now()
	local res = { at_ms = t0, node = shoal.config("node"), components = {}, nodes = {}, spaces = {}, unavailable = {} }
	local r
	if shoal.config("cluster") ~= "" then
		r = require("cluster").registry()
	end
	local comps = {}
	if r then
		local ok, list = pcall(r.query, r, {})
		if ok then
			comps = list
		else
			res.unavailable[#res.unavailable + 1] = "registry: " .. tostring(list)
		end
		local okl, leases = pcall(r.leases, r, nil, timeout)
		if okl then
			res.leases = leases
		else
			res.unavailable[#res.unavailable + 1] = "leases: " .. tostring(leases)
		end
	else
		res.unavailable[#res.unavailable + 1] = "registry: this node is not in a cluster"
	end
	local live = {}
	for _, c in ipairs(comps) do
		res.components[#res.components + 1] = { type = c.type, id = tostring(c.id), inc = c.inc, node = c.node,
			state = c.state, age_ms = c.age_ms, addr = c.addr, port = c.port, status = c.status, tags = c.tags }
		if c.type == "node" then
			local n = math.tointeger(tonumber(c.id))
			if n and n >= 1 and n <= 255 then
				local row = { node = n, state = c.state, age_ms = c.age_ms, addr = c.addr, port = c.port, tags = c.tags }
				res.nodes[#res.nodes + 1] = row
				if c.state ~= "dead" then
					live[#live + 1] = row
				end
			end
		end
	end
	table.sort(res.components, function(a, b) -- by node, then type and id: the registry's order is its own
		local na, nb = tostring(a.node), tostring(b.node)
		if na ~= nb then
			return #na < #nb or (#na == #nb and na < nb)
		end
		return a.type < b.type or (a.type == b.type and a.id < b.id)
	end)
	if #res.nodes == 0 then -- alone: this node only
		local row = { node = shoal.config("node"), state = "alive" }
		res.nodes[1] = row
		live[1] = row
	end
	table.sort(res.nodes, function(a, b)
		return a.node < b.node
	end)
	local fns = {}
	for _, row in ipairs(live) do
		fns[#fns + 1] = function()
			node_parts(row.node, row, res.spaces)
		end
	end
	parallel(fns)
	table.sort(res.spaces, function(a, b)
		return a.space < b.space or (a.space == b.space and a.mgr_node < b.mgr_node)
	end)
	res.took_ms = shoal.now() - t0
	return res
end

function dashboard.serve(id, method, path)
	if not enabled then
		return http.respond(id, 404, "not found: this node serves GET /metrics only (the dashboard is off: config dashboard)\n")
	end
	if path == "/dashboard" then
		return http.respond(id, 301, "see /dashboard/\n", nil, "Location: /dashboard/\r\n")
	end
	local f = files[path]
	if not f and path ~= "/api/cluster" then
		return http.respond(id, 404, "not found: this node serves GET /metrics, /dashboard/ and /api/cluster\n")
	end
	if method ~= "GET" then
		return http.respond(id, 405, "method not allowed: GET only\n", nil, "Allow: GET\r\n")
	end
	if f then
		return http.respond(id, 200, f.body, f.type, "Cache-Control: no-cache\r\n")
	end
	local ok, res = pcall(gather)
	if not ok then
		shoal.error("dashboard: gathering failed: " .. tostring(res))
		return http.respond(id, 500, "gathering failed (see the node's log)\n")
	end
	local okj, body = pcall(cjson.encode, res)
	if not okj then
		shoal.error("dashboard: encoding failed: " .. tostring(body))
		return http.respond(id, 500, "encoding failed (see the node's log)\n")
	end
	http.respond(id, 200, body, JSON, "Cache-Control: no-store\r\n")
end

return dashboard
