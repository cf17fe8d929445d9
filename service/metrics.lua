-- metrics: the node's Prometheus endpoint (docs/operations.md, "Metrics").
-- bootstrap starts it as .metrics when the config sets metrics_listen.
--
-- It serves GET /metrics over HTTP/1.x in the text exposition format 0.0.4,
-- one request per connection (Connection: close). Nothing is collected
-- between scrapes: on each request it reads
--   - every service's counters from the context (shoal.stat: messages, CPU,
--     queue length and peak, memory) - the scheduler keeps them anyway;
--   - the call latency histograms of the Lua services (shoal.callstats);
--   - the harbor's links (its `nodes` command), the registry's `stats`, each
--     gate's `stats`;
--   - the metrics of every Lua service that made one with shoal.metrics (it
--     registered here on its first), through the debug protocol's
--     `report metrics`, in parallel, each bounded by metrics_timeout_ms.
--
-- A Lua service on the node's socket API rather than a C module: a scrape
-- comes every few seconds, most of its data is in Lua services anyway, and
-- the socket layer already gives bounded buffers. The HTTP side (a bounded
-- head, a read deadline) is shoal/http.lua; other paths go to the web
-- dashboard (shoal/dashboard.lua: GET /dashboard/, /api/cluster; off unless
-- the config sets dashboard). Command "services": this node's services,
-- for the other nodes' dashboards.

local shoal = require "shoal"
local socket = require "shoal.socket"
local expo = require "shoal.metrics_text"
local http = require "shoal.http"
local dashboard = require "shoal.dashboard"
require "shoal.debug" -- the "debug" protocol: we call services with it

local string_format = string.format

local max_request, read_ms, max_conns, timeout, max_services
local conns = 0 -- scrape connections open
local sources = {} -- handle -> true: Lua services with metrics of their own
local listener

local METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"

local function respond(id, code, body, ctype, extra)
	http.respond(id, code, body, ctype, extra)
end

local function read_head(id)
	return http.read_head(id, max_request, read_ms)
end

-- Every source's answer, asked in parallel; each call is bounded.
local function collect_sources()
	local handles = {}
	for h in pairs(sources) do
		handles[#handles + 1] = h
	end
	table.sort(handles)
	local asks = {}
	for i, h in ipairs(handles) do
		asks[i] = function()
			return shoal.trycalltimeout(timeout, h, "debug", "report", "metrics")
		end
	end
	local results = shoal.parallel(asks)
	for i, r in ipairs(results) do -- pcall's result dropped: (trycall's ok, ...), or a raise: not ok
		results[i] = r[1] and table.pack(table.unpack(r, 2, r.n)) or { false }
	end
	local answers, failed = {}, 0
	for i, r in ipairs(results) do
		if r[1] and type(r[2]) == "table" then
			answers[#answers + 1] = r[2]
		elseif r[1] and r[2] == nil then
			sources[handles[i]] = nil -- alive, but it reports no metrics (any more)
		else
			failed = failed + 1
			if r[2] == shoal.errors.NOSERVICE or r[2] == shoal.errors.EXITING then
				sources[handles[i]] = nil -- gone: its handle may be reused
				failed = failed - 1
			end
		end
	end
	return answers, failed
end

-- A bounded call of a C service's TEXT command: the reply text, or nil.
local function text_call(h, cmd)
	local ok, reply, size = shoal.trycalltimeout(timeout, h, "text", cmd)
	if ok then
		return reply
	end
	return nil, size
end

local function scrape()
	local t0 = shoal.hpc()
	local out = expo.new()
	local rows, gates, registries = {}, {}, {}
	for i, h in ipairs(shoal.list()) do
		if i % 500 == 0 then
			shoal.yield() -- a node of many services: let the others have this worker meanwhile
		end
		local st = shoal.stat(h)
		if st then
			rows[#rows + 1] = { h = h, st = st }
			if st.module == "gate" then
				gates[#gates + 1] = h
			elseif st.module == "registry" then
				registries[#registries + 1] = h
			end
		end
	end
	table.sort(rows, function(a, b)
		return a.h < b.h
	end)
	expo.services(out, rows, max_services)
	expo.calls(out, shoal.callstats())
	local nodes_text
	if shoal.config("cluster") ~= "" then
		nodes_text = text_call(shoal.harbor_of(shoal.nodeof(shoal.self())), "nodes")
	end
	expo.harbor(out, nodes_text)
	local reg = {}
	for _, h in ipairs(registries) do
		local text = text_call(h, "stats")
		if text then
			reg[#reg + 1] = { h = h, stats = require("cjson").decode(text) }
		end
	end
	expo.registry(out, reg)
	local gs = {}
	for _, h in ipairs(gates) do
		local text = text_call(h, "stats")
		if text then
			gs[#gs + 1] = { h = h, stats = text }
		end
	end
	expo.gates(out, gs)
	local answers, failed = collect_sources()
	expo.lua(out, answers)
	expo.scrape(out, failed, (shoal.hpc() - t0) / 1e9)
	return expo.text(out)
end

local function serve(id)
	local head, status = read_head(id)
	if not head then
		if status then
			respond(id, status, http.REASONS[status] .. "\n")
		else
			socket.close(id)
		end
		return
	end
	local method, target = http.request_line(head)
	if not method then
		return respond(id, 400, "bad request line: want METHOD /path HTTP/1.x\n")
	end
	local path = target:match("^[^?#]*")
	if path ~= "/metrics" then
		return dashboard.serve(id, method, path)
	end
	if method ~= "GET" then
		return respond(id, 405, "method not allowed: GET only\n", nil, "Allow: GET\r\n")
	end
	local ok, body = pcall(scrape)
	if not ok then
		shoal.error("metrics: scrape failed: " .. tostring(body))
		return respond(id, 500, "scrape failed (see the node's log)\n")
	end
	respond(id, 200, body, METRICS_TYPE)
end

local function on_accept(id)
	if conns >= max_conns then
		socket.start(id)
		return respond(id, 503, "too many scrapes at once\n")
	end
	conns = conns + 1
	socket.start(id)
	local ok, err = pcall(serve, id)
	conns = conns - 1
	if not ok then
		shoal.error("metrics: " .. tostring(err))
		socket.close(id)
	end
end

shoal.start(function()
	max_request = shoal.config("metrics_max_request")
	read_ms = shoal.config("metrics_read_ms")
	max_conns = shoal.config("metrics_max_conns")
	timeout = shoal.config("metrics_timeout_ms")
	max_services = shoal.config("metrics_max_services")
	local host, port = http.parse_listen(shoal.config("metrics_listen"), "metrics: metrics_listen")
	local id, err = socket.listen(host, port)
	if not id then
		error(string_format("metrics: cannot listen on %s:%d: %s", host, port, tostring(err)), 0)
	end
	listener = id
	dashboard.init { timeout = timeout, respond = respond }
	shoal.dispatch("lua", function(_, source, cmd)
		if cmd == "register" then
			sources[source] = true
			return
		elseif cmd == "services" then -- another node's dashboard
			return dashboard.services()
		end
		error("metrics: unknown command " .. tostring(cmd), 0)
	end)
	socket.start(id, on_accept)
	local where = host .. ":" .. port
	for _, i in ipairs(socket.info()) do
		if i.id == id then
			where = i.peer
		end
	end
	shoal.log("metrics listening on http://" .. where .. "/metrics")
	shoal.on_exit(function()
		socket.close(listener)
	end)
end)
