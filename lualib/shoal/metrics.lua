-- shoal/metrics.lua - a service's own Prometheus metrics (docs/operations.md,
-- "Metrics"). Values live in the service, as plain Lua numbers: an update is
-- a table write, no message. The node's metrics service (service/metrics.lua)
-- asks every service that made a metric for them on each scrape (the debug
-- protocol's `report metrics`, bounded by metrics_timeout_ms).
--
--   local metrics = require "shoal.metrics"
--   local kills = metrics.counter("game_kills_total", "Kills, by weapon.", { "weapon" })
--   kills:inc(1, "sword")                       -- label values in the order declared
--   local online = metrics.gauge("game_players_online", "Players in the world.")
--   online:set(42)  online:add(-1)
--   local lat = metrics.histogram("game_save_seconds", "Save latency.", {}, { 0.01, 0.1, 1 })
--   lat:observe(0.023)
--
-- Names: [a-zA-Z_:][a-zA-Z0-9_:]* (the prefix shoal_ is Shoal's own: pick
-- your game's; a name the node's built-in metrics use is left out of the
-- scrape, counted in shoal_metrics_conflicts); labels: [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__",
-- no "le" (histograms use it). Asking again for a metric of the same name,
-- type and labels returns the same object; anything else of that name
-- raises. Every label value is a string (numbers are converted); a wrong
-- count of label values raises. Series with the same name and label values
-- from several services of a node are added up by the metrics service.
-- metrics.MAX_SERIES (1000) series per metric at most: past it an update
-- of a new label combination is dropped and counted in
-- shoal_metrics_dropped_series_total.

local shoal = require "shoal"

local metrics = { MAX_SERIES = 1000 }

local DEFAULT_BUCKETS = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 }

local registry = {} -- name -> metric (this service's)
local order = {} -- names in the order they were made
local dropped = 0 -- updates of a new series past MAX_SERIES
local registered = false

local function register_with_collector()
	if registered then
		return
	end
	registered = true
	local sdebug = require "shoal.debug"
	sdebug.provide("metrics", function()
		return metrics.collect()
	end)
	local h = shoal.query(".metrics")
	if h and h ~= 0 then
		shoal.send(h, "lua", "register")
	end
end

local function check_name(name)
	if type(name) ~= "string" or not name:match("^[a-zA-Z_:][a-zA-Z0-9_:]*$") then
		error("metrics: bad metric name " .. tostring(name) .. " (want [a-zA-Z_:][a-zA-Z0-9_:]*)", 3)
	end
end

local function check_labels(labels, is_histogram)
	labels = labels or {}
	if type(labels) ~= "table" then
		error("metrics: labels must be a list of names", 3)
	end
	local seen = {}
	for i, l in ipairs(labels) do
		if type(l) ~= "string" or not l:match("^[a-zA-Z_][a-zA-Z0-9_]*$") or l:sub(1, 2) == "__" then
			error("metrics: bad label name " .. tostring(l), 3)
		end
		if is_histogram and l == "le" then
			error("metrics: a histogram cannot have a label named le", 3)
		end
		if seen[l] then
			error("metrics: label " .. l .. " given twice", 3)
		end
		seen[l] = true
		labels[i] = l
	end
	return labels
end

-- The series key of label values v1..vn (checked against the metric).
local function series(m, ...)
	local n = select("#", ...)
	if n ~= #m.labels then
		error(string.format("metrics: %s takes %d label values, got %d", m.name, #m.labels, n), 3)
	end
	if n == 0 then
		return m.series[""] or m:new_series("", {})
	end
	local vals = { ... }
	for i = 1, n do
		local v = vals[i]
		if type(v) ~= "string" then
			if type(v) ~= "number" and type(v) ~= "boolean" then
				error(string.format("metrics: %s: label value %d is a %s", m.name, i, type(v)), 3)
			end
			vals[i] = tostring(v)
		end
	end
	local key = table.concat(vals, "\0")
	return m.series[key] or m:new_series(key, vals)
end

local NOSERIES = { value = 0 } -- where updates past MAX_SERIES go (never collected)

local function new_series(m, key, vals)
	if m.nseries >= metrics.MAX_SERIES then
		dropped = dropped + 1
		return NOSERIES
	end
	local s = { labels = vals, value = 0 }
	if m.type == "histogram" then
		s.counts = {}
		for i = 1, #m.buckets do
			s.counts[i] = 0
		end
		s.sum, s.count = 0, 0
	end
	m.series[key] = s
	m.nseries = m.nseries + 1
	return s
end

local function number(v, name)
	if type(v) ~= "number" or v ~= v then
		error("metrics: " .. name .. ": the value must be a number, not " .. (v ~= v and "NaN" or tostring(v)), 3)
	end
	return v
end

local Counter, Gauge, Histogram = {}, {}, {}
Counter.__index, Gauge.__index, Histogram.__index = Counter, Gauge, Histogram

function Counter:inc(n, ...)
	n = n == nil and 1 or number(n, self.name)
	if n < 0 then
		error("metrics: " .. self.name .. ": a counter only goes up", 2)
	end
	local s = series(self, ...)
	if s ~= NOSERIES then
		s.value = s.value + n
	end
end

function Gauge:set(v, ...)
	v = number(v, self.name)
	local s = series(self, ...)
	if s ~= NOSERIES then
		s.value = v
	end
end

function Gauge:add(v, ...)
	v = number(v, self.name)
	local s = series(self, ...)
	if s ~= NOSERIES then
		s.value = s.value + v
	end
end

function Histogram:observe(v, ...)
	v = number(v, self.name)
	local s = series(self, ...)
	if s == NOSERIES then
		return
	end
	local b = self.buckets
	for i = 1, #b do
		if v <= b[i] then
			s.counts[i] = s.counts[i] + 1
			break
		end
	end
	s.sum = s.sum + v
	s.count = s.count + 1
end

local function make(kind, mt, name, help, labels, buckets)
	check_name(name)
	if type(help) ~= "string" then
		error("metrics: " .. name .. ": help must be a string", 3)
	end
	labels = check_labels(labels, kind == "histogram")
	local old = registry[name]
	if old then
		if old.type ~= kind or table.concat(old.labels, ",") ~= table.concat(labels, ",") then
			error(string.format("metrics: %s is already a %s with labels {%s}", name, old.type,
				table.concat(old.labels, ",")), 3)
		end
		return old
	end
	local m = setmetatable({
		name = name,
		help = help,
		type = kind,
		labels = labels,
		buckets = buckets,
		series = {},
		nseries = 0,
		new_series = new_series,
	}, mt)
	registry[name] = m
	order[#order + 1] = name
	register_with_collector()
	return m
end

function metrics.counter(name, help, labels)
	return make("counter", Counter, name, help, labels)
end

function metrics.gauge(name, help, labels)
	return make("gauge", Gauge, name, help, labels)
end

-- buckets: upper bounds in increasing order (default: 0.5 ms .. 10 s, in
-- seconds); +Inf is implied.
function metrics.histogram(name, help, labels, buckets)
	buckets = buckets or DEFAULT_BUCKETS
	if type(buckets) ~= "table" or #buckets == 0 then
		error("metrics: " .. tostring(name) .. ": buckets must be a non-empty list of numbers", 2)
	end
	local copy = {}
	for i, b in ipairs(buckets) do
		if type(b) ~= "number" or b ~= b or b == math.huge or (i > 1 and b <= copy[i - 1]) then
			error("metrics: " .. tostring(name) .. ": buckets must be finite numbers in increasing order", 2)
		end
		copy[i] = b
	end
	return make("histogram", Histogram, name, help, labels, copy)
end

-- What the metrics service reads: {dropped = n, {name=, help=, type=,
-- labels=, buckets=, series = {{labels=, value=} | {labels=, counts=, sum=, count=}}}, ...}
function metrics.collect()
	local out = { dropped = dropped }
	for _, name in ipairs(order) do
		local m = registry[name]
		local list = {}
		for _, s in pairs(m.series) do
			list[#list + 1] = s
		end
		out[#out + 1] = { name = m.name, help = m.help, type = m.type, labels = m.labels, buckets = m.buckets,
			series = list }
	end
	return out
end

return metrics
