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

-- LEB128, as the serializer writes counts.
local function varint(n)
	local out = {}
	while n >= 0x80 do
		out[#out + 1] = string.char(n % 128 + 128)
		n = n // 128
	end
	out[#out + 1] = string.char(n)
	return table.concat(out)
end

-- Sends raw bytes as a "lua" request and waits for the answer.
local function raw_request(svc, bytes)
	local session = shoal.sendraw(svc, shoal.PTYPE_LUA, shoal.SESSION_ALLOC, bytes)
	return shoal.waitsession(session, 5000)
end

function cases.hostile_message_refused_while_decoding()
	-- Hostile: messages built to cost a service far more memory than their
	-- size. The service refuses each while decoding, naming the memlimit,
	-- before its allocator has to; the caller gets the error and the
	-- service lives on within its limit.
	local svc = shoal.newservice("memlimit_svc", LIMIT)
	-- 300000 empty tables: 600 KB on the wire, ~21 MB as Lua tables
	local n = 300000
	local ok, why = raw_request(svc, "\1\207" .. varint(n) .. "\0" .. string.rep("\192\0", n))
	t.eq(ok, false, "600 KB of empty tables to a service limited to 4 MB")
	t.contains(why, "unserialize: not enough memory", "error")
	t.contains(why, "memlimit", "error names the bound")
	-- one array claiming 1 M slots (16 MB), backed by 1 MB of bytes
	n = 1000000
	ok, why = raw_request(svc, "\1\207" .. varint(n) .. "\0" .. string.rep("\0", n))
	t.eq(ok, false, "a 16 MB array to a service limited to 4 MB")
	t.contains(why, "unserialize: not enough memory", "error")
	-- 64 nested tables, each claiming the whole rest: refused at the second
	local parts, size = {}, 64 * 1024
	for level = 1, 64 do
		local rest = size - (level * 5 + 1)
		parts[level] = "\207" .. string.char(rest % 128 + 128, (rest // 128) % 128 + 128, rest // 16384) .. "\0"
	end
	local head = "\1" .. table.concat(parts)
	ok, why = raw_request(svc, head .. string.rep("\0", size - #head))
	t.eq(ok, false, "nested claims")
	t.contains(why, "table size exceeds the buffer", "error")
	t.eq(shoal.call(svc, "lua", "ping"), "pong", "service still answers")
	t.eq(shoal.call(svc, "lua", "small", 1000), 1000, "a small job still works")
	check_under_limit(svc, "after the hostile messages")
	shoal.kill(svc)
end

t.start(cases, {
	"big_table_fails_the_call_only",
	"big_string_fails_the_call_only",
	"repeated_failures_do_not_leak",
	"request_too_big_for_the_service",
	"hostile_message_refused_while_decoding",
})
