-- metrics_main: the start service of the nodes in test_metrics.py. Starts
-- cluster_probe (the line protocol the test drives, with probe_metrics set:
-- a shoal.metrics counter of its "count" messages), makes Lua metrics with
-- hard label values and help text, and logs one line per refused use of
-- the shoal.metrics API ("metrics api: <error>").
local shoal = require "shoal"
local metrics = require "shoal.metrics"

local function try(what, f, ...)
	local ok, err = pcall(f, ...)
	shoal.log("metrics api: " .. what .. ": " .. (ok and "accepted" or tostring(err)))
end

shoal.start(function()
	shoal.newservice("cluster_probe")
	local g = metrics.gauge("e2e_weird", "Help with a \\ backslash\nand a newline.", { "v" })
	g:set(1, 'quote " backslash \\ newline \n end')
	g:set(-2.5, "unicode \u{e9}")
	local h = metrics.histogram("e2e_latency_seconds", "A histogram.", { "kind" }, { 0.1, 1 })
	h:observe(0.05, "a")
	h:observe(0.5, "a")
	h:observe(50, "a")
	local c = metrics.counter("e2e_things_total", "A counter.", { "a", "b" })
	c:inc(2, "x", 7)
	try("bad name", metrics.counter, "1bad", "x")
	try("bad label", metrics.counter, "e2e_ok_total", "x", { "__reserved" })
	try("le on a histogram", metrics.histogram, "e2e_h", "x", { "le" })
	try("buckets out of order", metrics.histogram, "e2e_h2", "x", {}, { 1, 0.5 })
	try("a counter going down", c.inc, c, -1, "x", "y")
	try("wrong label count", c.inc, c, 1, "x")
	try("a name of another type", metrics.gauge, "e2e_things_total", "x", { "a", "b" })
	try("a non-number value", g.set, g, "high", "v")
	-- taken, but left out of the scrape (shoal_metrics_conflicts counts it)
	metrics.gauge("shoal_services", "a clash with the node's own"):set(5)
	shoal.log("metrics main ready")
end)
