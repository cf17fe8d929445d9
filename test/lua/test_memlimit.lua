-- test_memlimit: a service over its memory limit fails the message that
-- allocated, not the node, and goes on working within the limit.
local shoal = require "shoal"
local t = require "testlib"

local LIMIT = 4 * 1024 * 1024
local cases = {}

local function check_under_limit(svc, what)
	local used, limit = shoal.call(svc, "lua", "memory")
	t.eq(limit, LIMIT, what .. ": limit")
	t.ok(used > 0 and used <= LIMIT, what .. ": memory " .. tostring(used) .. " within the limit")
	local st = shoal.stat(svc)
	t.ok(st and st.mem <= LIMIT, what .. ": stat memory within the limit")
	return used
end

function cases.big_table_fails_the_call_only()
	local svc = shoal.newservice("memlimit_svc", LIMIT)
	local base = check_under_limit(svc, "at start")
	t.ok(base < LIMIT // 2, "a fresh service uses " .. base .. " bytes")
	local ms, r = t.timed(shoal.call, svc, "lua", "build_table", 64)
	t.eq(r[1], false, "building a 64 MB table")
	t.contains(r[2], "not enough memory", "error")
	t.ok(ms < 5000, "failed before the call timeout")
	t.eq(shoal.call(svc, "lua", "ping"), "pong", "service still answers")
	t.eq(shoal.call(svc, "lua", "small", 1000), 1000, "a small job still works")
	check_under_limit(svc, "after the failure")
	shoal.kill(svc)
end

function cases.big_string_fails_the_call_only()
	local svc = shoal.newservice("memlimit_svc", LIMIT)
	t.raises("not enough memory", shoal.call, svc, "lua", "build_string", 64)
	t.eq(shoal.call(svc, "lua", "build_string", 1), 1024 * 1024, "a 1 MB string fits")
	t.raises("not enough memory", shoal.call, svc, "lua", "build_table", 64)
	t.eq(shoal.call(svc, "lua", "ping"), "pong", "service still answers")
	check_under_limit(svc, "after the failures")
	shoal.kill(svc)
end

function cases.repeated_failures_do_not_leak()
	local svc = shoal.newservice("memlimit_svc", LIMIT)
	local base = shoal.call(svc, "lua", "collect")
	for i = 1, 10 do
		t.raises("not enough memory", shoal.call, svc, "lua", "build_table", 64)
	end
	t.eq(shoal.call(svc, "lua", "small", 10), 10, "works after 10 failures")
	check_under_limit(svc, "after 10 failures")
	-- the failed tables were garbage: a full collection gets back near the start
	local after = shoal.call(svc, "lua", "collect")
	t.ok(after < base + 256 * 1024, string.format("memory after a full GC: %d bytes, at start %d", after, base))
	shoal.kill(svc)
end

function cases.request_too_big_for_the_service()
	-- the message is unpacked in the service's own memory: 5 MB cannot be,
	-- so the request fails (the caller gets the error) and the service lives
	local svc = shoal.newservice("memlimit_svc", LIMIT)
	local big = string.rep("y", 5 * 1024 * 1024)
	local ms, r = t.timed(shoal.call, svc, "lua", "ping", big)
	t.eq(r[1], false, "request of 5 MB to a service limited to 4 MB")
	t.contains(r[2], "not enough memory", "error")
	t.ok(ms < 5000, "failed before the call timeout")
	t.eq(shoal.call(svc, "lua", "ping", string.rep("y", 1024 * 1024)), "pong", "a 1 MB request fits")
	check_under_limit(svc, "after the failure")
	shoal.kill(svc)
end

t.start(cases, {
	"big_table_fails_the_call_only",
	"big_string_fails_the_call_only",
	"repeated_failures_do_not_leak",
	"request_too_big_for_the_service",
})
