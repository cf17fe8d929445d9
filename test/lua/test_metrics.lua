-- test_metrics: shoal.metrics (the Lua API game code uses), the text format
-- writer shoal.metrics_text (escaping, numbers, histograms, merging the
-- answers of several services, conflicts), and the failover service's
-- counter. The HTTP side and real scrapes: test/e2e/test_metrics.py.
local shoal = require "shoal"
local t = require "testlib"
local metrics = require "shoal.metrics"
local expo = require "shoal.metrics_text"

local cases = {}

local function by_name(collected)
	local out = {}
	for _, m in ipairs(collected) do
		out[m.name] = m
	end
	return out
end

local function series_of(m, ...)
	local want = table.concat({ ... }, "\0")
	for _, s in ipairs(m.series) do
		if table.concat(s.labels, "\0") == want then
			return s
		end
	end
end

function cases.counters_gauges_histograms()
	local c = metrics.counter("t_hits_total", "Hits.", { "kind" })
	t.eq(metrics.counter("t_hits_total", "Hits.", { "kind" }), c, "the same metric asked again")
	c:inc(nil, "a")
	c:inc(2.5, "a")
	c:inc(1, 7) -- a number label value becomes "7"
	local g = metrics.gauge("t_level", "Level.")
	g:set(3)
	g:add(-5)
	local h = metrics.histogram("t_wait_seconds", "Waits.", { "q" }, { 0.1, 1 })
	for _, v in ipairs({ 0.05, 0.1, 0.5, 2, 3 }) do
		h:observe(v, "x")
	end
	local m = by_name(metrics.collect())
	t.eq(series_of(m.t_hits_total, "a").value, 3.5, "counter a")
	t.eq(series_of(m.t_hits_total, "7").value, 1, "counter 7")
	t.eq(series_of(m.t_level).value, -2, "gauge")
	local s = series_of(m.t_wait_seconds, "x")
	t.eq(s.counts[1], 2, "<= 0.1 (0.1 itself is in its bucket)")
	t.eq(s.counts[2], 1, "<= 1")
	t.eq(s.count, 5, "count")
	t.eq(s.sum, 5.65, "sum")
end

function cases.bad_input()
	t.raises("metrics: bad metric name 9x", metrics.counter, "9x", "h")
	t.raises("metrics: bad metric name nil", metrics.counter, nil, "h")
	t.raises("metrics: bad label name a-b", metrics.gauge, "t_g", "h", { "a-b" })
	t.raises("metrics: bad label name __x", metrics.gauge, "t_g", "h", { "__x" })
	t.raises("metrics: label a given twice", metrics.gauge, "t_g", "h", { "a", "a" })
	t.raises("metrics: t_g: help must be a string", metrics.gauge, "t_g", nil)
	t.raises("a histogram cannot have a label named le", metrics.histogram, "t_h", "h", { "le" })
	t.raises("t_h: buckets must be finite numbers in increasing order", metrics.histogram, "t_h", "h", {}, { 1, 1 })
	t.raises("t_h: buckets must be finite numbers in increasing order", metrics.histogram, "t_h", "h", {},
		{ 1, math.huge })
	t.raises("t_h: buckets must be a non-empty list of numbers", metrics.histogram, "t_h", "h", {}, {})
	local c = metrics.counter("t_c_total", "h", { "a" })
	t.raises("metrics: t_c_total is already a counter with labels {a}", metrics.gauge, "t_c_total", "h", { "a" })
	t.raises("metrics: t_c_total is already a counter with labels {a}", metrics.counter, "t_c_total", "h", { "b" })
	t.raises("t_c_total: a counter only goes up", c.inc, c, -1, "x")
	t.raises("t_c_total takes 1 label values, got 0", c.inc, c, 1)
	t.raises("t_c_total takes 1 label values, got 2", c.inc, c, 1, "x", "y")
	t.raises("t_c_total: label value 1 is a table", c.inc, c, 1, {})
	t.raises("t_c_total: the value must be a number, not NaN", c.inc, c, 0 / 0, "x")
	t.raises("the value must be a number, not 1", c.inc, c, "1", "x")
end

function cases.max_series()
	local c = metrics.counter("t_many_total", "h", { "i" })
	for i = 1, metrics.MAX_SERIES + 10 do
		c:inc(1, i)
	end
	local all = metrics.collect()
	t.eq(#by_name(all).t_many_total.series, metrics.MAX_SERIES, "series kept")
	t.eq(all.dropped, 10, "updates dropped")
end

function cases.text_format()
	t.eq(expo.number(3), "3", "integer")
	t.eq(expo.number(2.0), "2", "whole float")
	t.eq(expo.number(0.1), "0.1", "shortest exact")
	t.eq(expo.number(1 / 3), "0.33333333333333331", "17 digits when 15 do not round-trip")
	t.eq(expo.number(math.huge), "+Inf", "inf")
	t.eq(expo.number(-math.huge), "-Inf", "-inf")
	t.eq(expo.number(0 / 0), "NaN", "nan")
	local out = expo.new()
	t.eq(expo.family(out, "x", "gauge", "a \\ b\nc"), true, "first HELP")
	t.eq(expo.family(out, "x", "gauge", "again"), false, "HELP once")
	expo.sample(out, "x", { "v", 'q"b\\n\nz' }, 1)
	expo.histogram(out, "h", { "k", "v" }, { 0.5, 2 }, { 1, 2, 3 }, 6, 9.5)
	t.eq(expo.text(out), table.concat({
		"# HELP x a \\\\ b\\nc",
		"# TYPE x gauge",
		'x{v="q\\"b\\\\n\\nz"} 1',
		'h_bucket{k="v",le="0.5"} 1',
		'h_bucket{k="v",le="2.0"} 3',
		'h_bucket{k="v",le="+Inf"} 6',
		'h_sum{k="v"} 9.5',
		'h_count{k="v"} 6',
		"",
	}, "\n"), "exposition")
end

-- The answers of two services: same-named series add up; a metric with
-- other labels, or a name of the node's own, is left out and counted.
function cases.merge()
	local a = {
		dropped = 1,
		{ name = "g_total", help = "G.", type = "counter", labels = { "k" }, series = {
			{ labels = { "x" }, value = 2 }, { labels = { "y" }, value = 1 } } },
		{ name = "g_seconds", help = "S.", type = "histogram", labels = {}, buckets = { 1 }, series = {
			{ labels = {}, counts = { 1 }, sum = 0.5, count = 2 } } },
		{ name = "shoal_services", help = "clash", type = "gauge", labels = {}, series = {
			{ labels = {}, value = 9 } } },
	}
	local b = {
		dropped = 2,
		{ name = "g_total", help = "G.", type = "counter", labels = { "k" }, series = {
			{ labels = { "x" }, value = 5 } } },
		{ name = "g_seconds", help = "S.", type = "histogram", labels = {}, buckets = { 1 }, series = {
			{ labels = {}, counts = { 0 }, sum = 3, count = 1 } } },
		{ name = "g_total", help = "G.", type = "counter", labels = { "other" }, series = {} },
	}
	local out = expo.new()
	expo.family(out, "shoal_services", "gauge", "Live services.")
	expo.sample(out, "shoal_services", nil, 4)
	expo.lua(out, { a, b })
	local text = expo.text(out)
	t.contains(text, 'g_total{k="x"} 7\ng_total{k="y"} 1\n', "summed, in label order")
	t.contains(text, 'g_seconds_bucket{le="1.0"} 1\ng_seconds_bucket{le="+Inf"} 3\ng_seconds_sum 3.5\n'
		.. "g_seconds_count 3\n", "histograms summed")
	t.ok(not text:find("shoal_services 9", 1, true), "a built-in name is not taken from Lua")
	t.contains(text, "shoal_metrics_conflicts 2\n", "conflicts")
	t.contains(text, "shoal_metrics_dropped_series_total 3\n", "dropped summed")
	t.contains(text, "shoal_metrics_sources 2\n", "sources")
	local _, n = text:gsub("# TYPE g_total ", "")
	t.eq(n, 1, "one TYPE line per family")
end

-- Past metrics_max_services, the newest services are added up in one series.
function cases.max_services()
	local rows = {}
	for i = 1, 5 do
		rows[i] = { h = 0x01000000 + i, st = { messages = i, cpu = 0.5, mqlen = i, mqpeak = 10 * i, mem = 100,
			module = "snlua", label = "s" .. i } }
	end
	local out = expo.new()
	expo.services(out, rows, 2)
	local text = expo.text(out)
	t.contains(text, "shoal_services 5\n", "every service counted")
	t.contains(text, 'shoal_service_messages_total{handle=":01000002",module="snlua",service="s2"} 2\n', "listed")
	t.ok(not text:find("s3", 1, true), "s3 is not listed alone")
	t.contains(text, 'shoal_service_messages_total{handle="other",module="",service="other"} 12\n', "3+4+5")
	t.contains(text, 'shoal_service_cpu_seconds_total{handle="other",module="",service="other"} 1.5\n', "cpu")
	t.contains(text, 'shoal_service_queue_peak{handle="other",module="",service="other"} 50\n', "the highest peak")
end

-- Every failover step moves shoal_failover_events_total{event=...}.
function cases.failover_counter()
	local failover = require "game.failover"
	local f = failover.new({ dbmgr = ".nodbmgr", log = function() end })
	f:event("node_dead", { "node", 3 })
	f:event("node_dead", { "node", 4 })
	f:event("lease", { "name", "x" })
	local m = by_name(metrics.collect()).shoal_failover_events_total
	t.eq(series_of(m, "node_dead").value, 2, "node_dead")
	t.eq(series_of(m, "lease").value, 1, "lease")
	t.eq(f:counts().node_dead, 2, "the service's own count agrees")
end

-- shoal.callstats: answered calls land in the local histogram.
function cases.call_histogram()
	local echo = shoal.newservice("trivial_svc")
	local before = shoal.callstats()["local"].n
	for _ = 1, 100 do
		shoal.trycall(echo, "lua", "ping")
	end
	local cs = shoal.callstats()
	t.ok(cs["local"].n - before >= 100, "100 calls counted")
	t.eq(#cs.bounds, 19, "bounds")
	t.eq(#cs["local"], 20, "buckets with +Inf")
	local sum = 0
	for i = 1, #cs["local"] do
		sum = sum + cs["local"][i]
	end
	t.eq(sum, cs["local"].n, "buckets add up to the count")
	shoal.kill(echo)
end

t.start(cases, { "counters_gauges_histograms", "bad_input", "max_series", "text_format", "merge", "max_services", "failover_counter",
	"call_histogram" })
