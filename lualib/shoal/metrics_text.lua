-- shoal/metrics_text.lua - the Prometheus text exposition format 0.0.4, and
-- the node's own metric families (service/metrics.lua writes a scrape with
-- it; every family is listed in docs/operations.md, "Metrics").
--
--   local expo = require "shoal.metrics_text"
--   local out = expo.new()
--   expo.family(out, "x_total", "counter", "Help text.")
--   expo.sample(out, "x_total", { "peer", "2" }, 17)   -- label pairs in order
--   local text = expo.text(out)
--
-- Label values are escaped (\\ \" \n), help text too (\\ \n); numbers are
-- integers as they are, floats with 17 significant digits, +Inf/-Inf/NaN.

local shoal = require "shoal"

local string_format, concat = string.format, table.concat

local expo = {}

function expo.new()
	return { lines = {}, families = {} }
end

local function escape_label(v)
	return (tostring(v):gsub('[\\"\n]', { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n" }))
end

local function escape_help(v)
	return (tostring(v):gsub("[\\\n]", { ["\\"] = "\\\\", ["\n"] = "\\n" }))
end

function expo.number(v)
	if math.type(v) == "integer" then
		return string_format("%d", v)
	end
	v = tonumber(v) or 0
	if v ~= v then
		return "NaN"
	elseif v == math.huge then
		return "+Inf"
	elseif v == -math.huge then
		return "-Inf"
	elseif v == math.floor(v) and math.abs(v) < 2 ^ 53 then
		return string_format("%d", math.tointeger(v))
	end
	local s = string_format("%.15g", v)
	if tonumber(s) ~= v then
		s = string_format("%.17g", v)
	end
	return s
end

-- HELP and TYPE of a family, once per scrape (returns false if already there).
function expo.family(out, name, kind, help)
	if out.families[name] then
		return false
	end
	out.families[name] = kind
	local l = out.lines
	l[#l + 1] = "# HELP " .. name .. " " .. escape_help(help)
	l[#l + 1] = "# TYPE " .. name .. " " .. kind
	return true
end

-- labels: a flat list name1, value1, name2, value2, ...
local function label_text(labels)
	if labels == nil or #labels == 0 then
		return ""
	end
	local parts = {}
	for i = 1, #labels, 2 do
		parts[#parts + 1] = labels[i] .. '="' .. escape_label(labels[i + 1]) .. '"'
	end
	return "{" .. concat(parts, ",") .. "}"
end

function expo.sample(out, name, labels, value)
	local l = out.lines
	l[#l + 1] = name .. label_text(labels) .. " " .. expo.number(value)
end

-- A histogram's series: bounds (finite, increasing), counts per bucket
-- (not cumulative; counts[#bounds + 1] is +Inf), total count, sum.
function expo.histogram(out, name, labels, bounds, counts, count, sum)
	local acc = 0
	labels = labels or {}
	local n = #labels
	for i = 1, #bounds + 1 do
		acc = acc + (counts[i] or 0)
		local le = i <= #bounds and expo.number(bounds[i] + 0.0) or "+Inf"
		if le:find("^%d+$") then
			le = le .. ".0" -- 1 -> 1.0, as client libraries write it
		end
		labels[n + 1], labels[n + 2] = "le", le
		expo.sample(out, name .. "_bucket", labels, acc)
	end
	labels[n + 1], labels[n + 2] = nil, nil
	expo.sample(out, name .. "_sum", labels, sum)
	expo.sample(out, name .. "_count", labels, count)
end

function expo.text(out)
	return concat(out.lines, "\n") .. "\n"
end

-- ---- the node's own families ----

-- rows: {h =, st = shoal.stat(h)} per live service, in handle order; past
-- max of them the rest are added up in one series handle="other".
function expo.services(out, rows, max)
	local total = #rows
	if max and #rows > max then
		local other = { messages = 0, cpu = 0, mqlen = 0, mqpeak = 0, mem = 0, module = "", label = "other" }
		for i = max + 1, #rows do
			local st = rows[i].st
			for _, k in ipairs({ "messages", "cpu", "mqlen", "mem" }) do
				other[k] = other[k] + st[k]
			end
			other.mqpeak = math.max(other.mqpeak, st.mqpeak)
			rows[i] = nil
		end
		rows[max + 1] = { st = other }
	end
	expo.family(out, "shoal_node_info", "gauge", "This node: its id, always 1.")
	expo.sample(out, "shoal_node_info", { "node", tostring(shoal.nodeof(shoal.self())) }, 1)
	expo.family(out, "shoal_node_start_time_seconds", "gauge", "Unix time the node started.")
	expo.sample(out, "shoal_node_start_time_seconds", nil, shoal.starttime())
	expo.family(out, "shoal_services", "gauge", "Live services of the node.")
	expo.sample(out, "shoal_services", nil, total)
	local families = {
		{ "shoal_service_messages_total", "counter", "Messages the service handled.", "messages" },
		{ "shoal_service_cpu_seconds_total", "counter", "Time spent in the service's callback, seconds.", "cpu" },
		{ "shoal_service_queue_length", "gauge", "Messages waiting in the service's queue.", "mqlen" },
		{ "shoal_service_queue_peak", "gauge", "The longest the service's queue has been.", "mqpeak" },
		{ "shoal_service_memory_bytes", "gauge", "Memory the service reported (a Lua service: its state).", "mem" },
	}
	for _, f in ipairs(families) do
		expo.family(out, f[1], f[2], f[3])
		for _, r in ipairs(rows) do
			expo.sample(out, f[1], { "handle", r.h and string_format(":%08x", r.h) or "other", "module", r.st.module,
				"service", r.st.label }, r.st[f[4]])
		end
	end
end

-- cs: shoal.callstats()
function expo.calls(out, cs)
	expo.family(out, "shoal_call_duration_seconds", "histogram",
		"Latency of the calls Lua services made and got an answer to (a response or an error), "
		.. "by the callee's place: local (this node) or remote (another node).")
	for _, scope in ipairs({ "local", "remote" }) do
		local h = cs[scope]
		expo.histogram(out, "shoal_call_duration_seconds", { "scope", scope }, cs.bounds, h, h.n, h.sum)
	end
end

-- text: the harbor's `nodes` table (nil: no harbor, or it did not answer)
function expo.harbor(out, text)
	expo.family(out, "shoal_harbor_up", "gauge", "1 when the node's harbor answered this scrape "
		.. "(0: it did not, or the node is not in a cluster).")
	expo.sample(out, "shoal_harbor_up", nil, text and 1 or 0)
	local peers = {}
	for line in (text or ""):gmatch("[^\n]+") do
		local node, state, _, rtt, bin, bout, queued, calls =
			line:match("^(%d+)%s+(%S+)%s+(%S+)%s+([%d%.]+)%s+(%d+)%s+(%d+)%s+(%d+)%s+(%d+)")
		if node then
			peers[#peers + 1] = { node = node, up = state == "up" and 1 or 0, rtt = tonumber(rtt) / 1000,
				bin = math.tointeger(bin), bout = math.tointeger(bout), queued = math.tointeger(queued),
				calls = math.tointeger(calls), state = state }
		end
	end
	local up = 0
	for _, p in ipairs(peers) do
		up = up + p.up
	end
	expo.family(out, "shoal_harbor_links_up", "gauge", "Cluster peers this node has a working link to.")
	expo.sample(out, "shoal_harbor_links_up", nil, up)
	local families = {
		{ "shoal_harbor_link_up", "gauge", "1 when the link to the peer node is up.", "up" },
		{ "shoal_harbor_received_bytes_total", "counter", "Bytes received from the peer node.", "bin" },
		{ "shoal_harbor_sent_bytes_total", "counter", "Bytes sent to the peer node.", "bout" },
		{ "shoal_harbor_rtt_seconds", "gauge", "Last heartbeat round trip to the peer node, seconds.", "rtt" },
		{ "shoal_harbor_queued_bytes", "gauge", "Bytes queued for the peer node, not yet written.", "queued" },
		{ "shoal_harbor_calls_waiting", "gauge", "Calls to the peer node waiting for their answer.", "calls" },
	}
	for _, f in ipairs(families) do
		expo.family(out, f[1], f[2], f[3])
		for _, p in ipairs(peers) do
			expo.sample(out, f[1], { "peer", p.node }, p[f[4]])
		end
	end
end

-- regs: {h =, stats = decoded `stats`} per registry service of the node
function expo.registry(out, regs)
	local sum = { ops = {}, events = {}, errors = 0, components = 0, watchers = 0, leases = 0 }
	for _, r in ipairs(regs) do
		for k, v in pairs(r.stats.ops or {}) do
			sum.ops[k] = (sum.ops[k] or 0) + v
		end
		for k, v in pairs(r.stats.events or {}) do
			sum.events[k] = (sum.events[k] or 0) + v
		end
		for _, k in ipairs({ "errors", "components", "watchers", "leases" }) do
			sum[k] = sum[k] + (math.tointeger(r.stats[k]) or 0)
		end
	end
	expo.family(out, "shoal_registry_up", "gauge", "Registry services on this node that answered this scrape.")
	expo.sample(out, "shoal_registry_up", nil, #regs)
	if #regs == 0 then
		return
	end
	local function sorted(t)
		local keys = {}
		for k in pairs(t) do
			keys[#keys + 1] = k
		end
		table.sort(keys)
		return keys
	end
	expo.family(out, "shoal_registry_requests_total", "counter", "Requests the registry took, by verb.")
	for _, k in ipairs(sorted(sum.ops)) do
		expo.sample(out, "shoal_registry_requests_total", { "verb", k }, math.tointeger(sum.ops[k]) or 0)
	end
	expo.family(out, "shoal_registry_request_errors_total", "counter", "Requests the registry refused.")
	expo.sample(out, "shoal_registry_request_errors_total", nil, sum.errors)
	expo.family(out, "shoal_registry_events_total", "counter", "Events the registry sent to watchers, by kind.")
	for _, k in ipairs(sorted(sum.events)) do
		expo.sample(out, "shoal_registry_events_total", { "event", k }, math.tointeger(sum.events[k]) or 0)
	end
	expo.family(out, "shoal_registry_components", "gauge", "Components (lives) the registry holds.")
	expo.sample(out, "shoal_registry_components", nil, sum.components)
	expo.family(out, "shoal_registry_watchers", "gauge", "Watchers of the registry.")
	expo.sample(out, "shoal_registry_watchers", nil, sum.watchers)
	expo.family(out, "shoal_registry_leases", "gauge", "Leases the registry holds.")
	expo.sample(out, "shoal_registry_leases", nil, sum.leases)
end

-- gates: {h =, stats = "open=N opened=N ..."} per gate service
function expo.gates(out, gates)
	local families = {
		{ "shoal_gate_connections", "gauge", "Client connections the gate holds now.", "open" },
		{ "shoal_gate_connections_opened_total", "counter", "Client connections the gate accepted.", "opened" },
		{ "shoal_gate_connections_refused_total", "counter", "Client connections refused (gate full).", "refused" },
		{ "shoal_gate_frames_received_total", "counter", "Client frames the gate passed on to agents.", "frames" },
	}
	local parsed = {}
	for i, g in ipairs(gates) do
		local t = {}
		for k, v in g.stats:gmatch("(%w+)=(%d+)") do
			t[k] = math.tointeger(v)
		end
		parsed[i] = t
	end
	for _, f in ipairs(families) do
		expo.family(out, f[1], f[2], f[3])
		for i, g in ipairs(gates) do
			expo.sample(out, f[1], { "gate", string_format(":%08x", g.h) }, parsed[i][f[4]] or 0)
		end
	end
end

-- answers: shoal.metrics' collect() of each source. Series of one name and
-- label values from several services are added up; a metric whose type,
-- labels or buckets differ from the first service's is left out (counted).
function expo.lua(out, answers)
	local merged, order, conflicts, dropped = {}, {}, 0, 0
	for _, a in ipairs(answers) do
		dropped = dropped + (tonumber(a.dropped) or 0)
		for _, m in ipairs(a) do
			local have = merged[m.name]
			local sig = m.type .. "|" .. concat(m.labels, ",") .. "|" .. concat(m.buckets or {}, ",")
			if have == nil then
				-- a name the node's own families took: left out
				have = { m = m, sig = sig, series = {}, keys = {}, builtin = out.families[m.name] ~= nil }
				merged[m.name] = have
				order[#order + 1] = m.name
			end
			if have.sig ~= sig or have.builtin then
				conflicts = conflicts + 1
			else
				for _, s in ipairs(m.series) do
					local key = concat(s.labels, "\0")
					local acc = have.series[key]
					if acc == nil then
						acc = { labels = s.labels, value = 0, sum = 0, count = 0, counts = {} }
						have.series[key] = acc
						have.keys[#have.keys + 1] = key
					end
					acc.value = acc.value + (s.value or 0)
					if s.counts then
						for i, c in ipairs(s.counts) do
							acc.counts[i] = (acc.counts[i] or 0) + c
						end
						acc.sum = acc.sum + s.sum
						acc.count = acc.count + s.count
					end
				end
			end
		end
	end
	for _, name in ipairs(order) do
		local have = merged[name]
		local m = have.m
		if have.builtin then
			goto next
		end
		expo.family(out, name, m.type, m.help)
		table.sort(have.keys)
		for _, key in ipairs(have.keys) do
			local s = have.series[key]
			local labels = {}
			for i, l in ipairs(m.labels) do
				labels[#labels + 1] = l
				labels[#labels + 1] = s.labels[i]
			end
			if m.type == "histogram" then
				-- counts holds the finite buckets; the +Inf one is what is left
				local finite = 0
				for i = 1, #m.buckets do
					finite = finite + (s.counts[i] or 0)
				end
				local counts = {}
				for i = 1, #m.buckets do
					counts[i] = s.counts[i] or 0
				end
				counts[#m.buckets + 1] = s.count - finite
				expo.histogram(out, name, labels, m.buckets, counts, s.count, s.sum)
			else
				expo.sample(out, name, labels, s.value)
			end
		end
		::next::
	end
	expo.family(out, "shoal_metrics_conflicts", "gauge", "Lua metrics left out of this scrape: a service "
		.. "declared a name with another type, labels or buckets than the first service that has it.")
	expo.sample(out, "shoal_metrics_conflicts", nil, conflicts)
	expo.family(out, "shoal_metrics_dropped_series_total", "counter",
		"Updates of a new label combination past shoal.metrics.MAX_SERIES, dropped (live services).")
	expo.sample(out, "shoal_metrics_dropped_series_total", nil, dropped)
	expo.family(out, "shoal_metrics_sources", "gauge", "Lua services whose own metrics this scrape read.")
	expo.sample(out, "shoal_metrics_sources", nil, #answers)
end

function expo.scrape(out, failed, seconds)
	expo.family(out, "shoal_metrics_sources_failed", "gauge",
		"Lua services with metrics that did not answer this scrape within metrics_timeout_ms.")
	expo.sample(out, "shoal_metrics_sources_failed", nil, failed)
	expo.family(out, "shoal_metrics_scrape_seconds", "gauge", "How long collecting this scrape took, seconds.")
	expo.sample(out, "shoal_metrics_scrape_seconds", nil, seconds)
end

return expo
