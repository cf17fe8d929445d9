-- test_unique: uniqueservice / queryservice through service_mgr.
local shoal = require "shoal"
local t = require "testlib"

local started = {} -- handles reported by test_unique_target start functions

local cases = {}

function cases.concurrent_uniqueservice_starts_once()
	local fns = {}
	for i = 1, 50 do
		fns[i] = function()
			return shoal.uniqueservice("test_unique_target", shoal.self())
		end
	end
	local results = t.join(fns, 8000)
	local h = results[1][2]
	t.eq(math.type(h), "integer", "handle")
	for i = 1, 50 do
		t.values(results[i], table.pack(true, h), "request " .. i)
	end
	-- every "started" message was queued here before service_mgr got the
	-- start's answer, hence before the answers above
	t.eq(#started, 1, "start functions run")
	t.eq(started[1], h, "the started instance is the returned one")
	t.eq(shoal.call(h, "lua", "starts"), 1, "starts of the instance")
	-- later requests get the same handle without a new start
	t.eq(shoal.uniqueservice("test_unique_target", shoal.self()), h, "later request")
	t.eq(shoal.queryservice("test_unique_target"), h, "query of a started service")
	t.eq(#started, 1, "start functions run")
end

function cases.queryservice_waits_for_a_later_start()
	local events = {}
	local results = t.join({
		function()
			events[#events + 1] = "query sent"
			local h = shoal.queryservice("test_unique_target_late")
			events[#events + 1] = "query answered"
			return h
		end,
		function()
			shoal.yield() -- the query above reaches service_mgr first
			events[#events + 1] = "start"
			local h = shoal.uniqueservice("test_unique_target_late")
			events[#events + 1] = "started"
			return h
		end,
	}, 8000)
	t.eq(results[1][1], true, "query: " .. tostring(results[1][2]))
	t.eq(results[2][1], true, "start: " .. tostring(results[2][2]))
	t.eq(math.type(results[2][2]), "integer", "handle")
	t.eq(results[1][2], results[2][2], "query result is the started handle")
	t.same(events, { "query sent", "start", "query answered", "started" }, "events")
	t.ok(results[2][2] ~= shoal.queryservice("test_unique_target"), "another name, another service")
end

function cases.missing_uniqueservice_raises_clearly()
	local fns = {}
	for i = 1, 5 do
		fns[i] = function()
			return shoal.uniqueservice("no_such_unique_service")
		end
	end
	-- a query waiting for that name fails with the same error
	fns[6] = function()
		return shoal.queryservice("no_such_unique_service")
	end
	fns[6], fns[1] = fns[1], fns[6]
	local results = t.join(fns, 8000)
	for i = 1, 6 do
		t.eq(results[i][1], false, "request " .. i)
		t.contains(results[i][2], "no_such_unique_service", "request " .. i)
		t.contains(results[i][2], "not found", "request " .. i)
		t.ok(results[i].ms < 1000, "request " .. i .. " failed at once")
	end
	-- the failure is not cached as a success, nor does it wedge the name
	t.raises("not found", shoal.uniqueservice, "no_such_unique_service")
	-- and service_mgr still works
	local h = shoal.uniqueservice("test_unique_target", shoal.self())
	t.eq(shoal.call(h, "lua", "ping"), "pong", "unique service after a failure")
end

t.start(cases, {
	"concurrent_uniqueservice_starts_once",
	"queryservice_waits_for_a_later_start",
	"missing_uniqueservice_raises_clearly",
}, function()
	shoal.dispatch("lua", function(_, _, cmd, h)
		if cmd == "started" then
			started[#started + 1] = h
		end
	end)
end)
