-- test_errors: errors carry a code (include/shoal.h, SHOAL_ERRNO_LIST),
-- pushed from C to Lua; shoal.trycall returns it; the router and
-- cluster.lua act on codes, never on an error's text (which a handler, or a
-- client through it, may fill with anything). Also the other constants
-- pushed from C: handle layout, signals, SYSTEM words, log levels.
local shoal = require "shoal"
local router = require "shoal.router"
local cluster = require "cluster"
require "shoal.debug" -- the "debug" protocol, to call with it
local t = require "testlib"

local E = shoal.errors

local cases = {}

-- trycall's results as a table (false, code, text | true, ...).
local function try(...)
	return table.pack(shoal.trycall(...))
end

local function expect_failure(r, code, text, what)
	t.eq(r[1], false, what .. ": fails")
	t.eq(r[2], code, what .. ": code " .. tostring(shoal.errname(code)) .. ", got " .. tostring(shoal.errname(r[2])))
	t.contains(r[3], text, what .. ": text")
end

function cases.codes_pushed_from_c()
	local expected = {
		NOSERVICE = -1, INVAL = -2, NOMEM = -3, TIMEOUT = -4, EXITING = -5, NOMODULE = -6, INIT = -7,
		NAMEEXIST = -8, TOOBIG = -9, FULL = -10, NODEDOWN = -11, RAISED = -12, STALE = -13,
		MALFORMED = -14, REPLAYED = -15, REORDERED = -16, FORGED = -17, EXHAUSTED = -18, WRONGWAY = -19,
		BUSY = -20, NOTOWNER = -21, UNAVAIL = -22,
	}
	local n = 0
	for name, code in pairs(E) do
		n = n + 1
		t.eq(expected[name], code, "shoal.errors." .. name)
		t.eq(shoal.errname(code), name, "errname(" .. code .. ")")
		t.between(code, -255, -1, name .. " fits the ERROR code byte")
	end
	for name in pairs(expected) do
		t.ok(E[name], "shoal.errors." .. name .. " is pushed")
	end
	local listed = 0
	for _ in pairs(expected) do
		listed = listed + 1
	end
	t.eq(n, listed, "every code of SHOAL_ERRNO_LIST")
	t.eq(shoal.strerror(E.NOSERVICE), "no such service", "strerror")
	t.eq(shoal.strerror(E.RAISED), "the callee raised an error", "strerror")
	t.eq(shoal.strerror(-200), "unknown error", "strerror of an unknown code")
	t.eq(shoal.errname(0), nil, "0 is no error")
	t.eq(shoal.errname(-200), nil, "unknown code")
end

function cases.other_constants_pushed_from_c()
	t.eq(shoal.HANDLE_NODE_SHIFT, 24, "node shift")
	t.eq(shoal.HANDLE_LOCAL_MASK, 0xffffff, "local mask")
	t.eq(shoal.HANDLE_NODE_MAX, 255, "highest node id")
	local me = shoal.self()
	t.eq(shoal.nodeof(me), tonumber(shoal.getenv("node")) or 1, "nodeof(self)")
	t.eq(shoal.makehandle(shoal.nodeof(me), shoal.localof(me)), me, "makehandle(nodeof, localof)")
	t.eq(shoal.harbor_of(3), 0x03000000, "harbor_of(3)")
	t.eq(shoal.nodeof(0xfe123456), 0xfe, "nodeof a high node")
	t.eq(shoal.localof(0xfe123456), 0x123456, "localof")
	t.eq(cluster.nodeof(0x05000001), 5, "cluster.nodeof")
	t.raises("node id out of range", shoal.harbor_of, 256)
	t.raises("node id out of range", shoal.makehandle, -1, 1)
	t.raises("local id out of range", shoal.makehandle, 1, 0x1000000)
	t.raises("handle out of range", shoal.nodeof, -1)
	t.raises("handle out of range", shoal.nodeof, 0x100000000)
	t.eq(shoal.SIGNAL_INTERRUPT, 0, "SIGNAL_INTERRUPT")
	t.eq(shoal.SIGNAL_STATS, 1, "SIGNAL_STATS")
	t.eq(shoal.SYSTEM_START, "START", "SYSTEM_START")
	t.eq(shoal.SYSTEM_EXIT, "EXIT", "SYSTEM_EXIT")
	t.eq(shoal.LOG_DEBUG, 0, "LOG_DEBUG")
	t.eq(shoal.LOG_ERROR, 3, "LOG_ERROR")
	t.eq(shoal.loglevel(), shoal.getenv("loglevel") or "info", "level names from the C list")
end

function cases.trycall_returns_the_code()
	local svc = shoal.newservice("errors_svc")
	t.values(try(svc, "lua", "ping"), table.pack(true, "pong"), "a success")
	-- a handler's own error, whatever its text says
	local r = try(svc, "lua", "raise", "no such service")
	expect_failure(r, E.RAISED, "no such service", "a handler raising 'no such service'")
	expect_failure(try(svc, "lua", "raise", "node 2 is unreachable"), E.RAISED, "node 2", "another runtime-like text")
	expect_failure(try(svc, "lua", "respond_fail", "timed out after 5 ms"), E.RAISED, "timed out after 5 ms",
		"responder(false, text)")
	-- the runtime's own failures
	expect_failure(try(svc, "text", "hello"), E.INVAL, "no handler for protocol text", "an unhandled protocol")
	-- other protocols: one with an unpack function (debug), one without (text)
	t.values(try(svc, "debug", "ping"), table.pack(true, "pong"), "a debug call")
	local texter = shoal.newservice("errors_svc", "text")
	t.values(try(texter, "text", "hi"), table.pack(true, "text:hi"), "a text call")
	t.values(table.pack(shoal.trycalltimeout(1000, texter, "text", "yo")), table.pack(true, "text:yo"), "trycalltimeout")
	shoal.kill(texter)
	expect_failure(try(".no_such_name", "lua", "ping"), E.NOSERVICE, "no such service", "an unknown name")
	expect_failure(try(0x01fedcba, "lua", "ping"), E.NOSERVICE, "no such service", "an unknown handle")
	local hang = shoal.newservice("hang_svc")
	local r2 = table.pack(shoal.trycalltimeout(100, hang, "lua", "hang"))
	expect_failure(r2, E.TIMEOUT, "timed out after 100 ms", "a timeout")
	local quitter = shoal.newservice("errors_svc")
	expect_failure(try(quitter, "lua", "exit_now"), E.EXITING, "exited before answering", "exit inside the handler")
	expect_failure(try(quitter, "lua", "ping"), E.NOSERVICE, "no such service", "after its exit")
	shoal.kill(svc)
	expect_failure(try(svc, "lua", "ping"), E.NOSERVICE, "no such service", "a killed service")
	shoal.kill(hang)
	-- shoal.call still raises a string for game code
	local ok, err = pcall(shoal.call, svc, "lua", "ping")
	t.eq(ok, false, "call fails")
	t.eq(type(err), "string", "call raises a string")
	t.contains(err, "failed: no such service", "its text")
	t.raises("trycalltimeout: timeout must be a positive number", shoal.trycalltimeout, 0, svc, "lua")
end

function cases.start_failure_code()
	local h = assert(shoal.launchservice("snlua", "no_such_service_file"))
	local session = shoal.sendstart(h, shoal.SESSION_ALLOC)
	local ok, why, code = shoal.waitsession(session)
	t.eq(ok, false, "the start fails")
	t.eq(code, E.INIT, "code INIT")
	t.contains(why, "not found", "text")
end

-- ERROR messages made by hand (any service can send one): a payload
-- without a code byte never reads as a runtime error.
function cases.forged_error_payloads()
	local svc = shoal.newservice("errors_svc")
	expect_failure(try(svc, "lua", "raw_error", ""), E.RAISED, "", "an empty ERROR")
	expect_failure(try(svc, "lua", "raw_error", "\0no such service"), E.RAISED, "no such service", "code byte 0")
	local r = try(svc, "lua", "raw_error", "\255odd")
	t.eq(r[2], -255, "an unknown code passes through")
	t.eq(r[3], "odd", "its text")
	t.eq(shoal.errname(r[2]), nil, "no name for it")
	expect_failure(try(svc, "lua", "raw_error", "\1gone"), E.NOSERVICE, "gone", "a code byte of 1")
	t.values(try(svc, "lua", "ping"), table.pack(true, "pong"), "the service lives on")
	shoal.kill(svc)
end

-- The router drops an instance only when a call says it is gone.
function cases.router_keeps_an_instance_whose_handler_says_no_such_service()
	local a = shoal.newservice("test_gate_logic", 1, "hash", { 14, 15 })
	local b = shoal.newservice("test_gate_logic", 2, "hash", { 14, 15 })
	local function registered()
		local e = shoal.call(".router", "lua", "lookup", 14)
		return e and #e.instances or 0
	end
	t.eq(registered(), 2, "two instances")
	for _, text in ipairs { "no such service", "call :01000001 failed: no such service", "service :01000009 exited" } do
		for k = 1, 8 do
			local ok, err = router.route("u" .. k, 14, text, {})
			t.eq(ok, false, "the handler's error reaches the agent")
			t.contains(err, text, "its text")
		end
		t.eq(registered(), 2, "both instances stay registered after '" .. text .. "'")
	end
	for k = 1, 8 do
		local ok, reply = router.route("u" .. k, 15, "hi", {})
		t.ok(ok, reply)
		t.eq(tonumber(reply:match("^i=(%d+)")), router.hash("u" .. k, 2), "u" .. k .. " still reaches its instance")
	end
	-- a really dead instance is still dropped at once
	local uid
	for k = 1, 100 do
		if router.hash("d" .. k, 2) == 1 then
			uid = "d" .. k
			break
		end
	end
	shoal.kill(a)
	local ok, reply = router.route(uid, 15, "still there?", {})
	t.ok(ok, reply)
	t.eq(tonumber(reply:match("^i=(%d+)")), 2, "routed to the live instance")
	t.eq(registered(), 1, "the dead one is gone from the router")
	shoal.kill(b)
end

-- cluster.lua caches the handle behind (node, name); it drops it when a
-- call says the service or node is gone, not when a handler's error text
-- looks like it. The harbor's "query" is played here (the test node has no
-- harbor): each query is counted and answered with `behind`.
function cases.cluster_cache_kept_on_a_handler_error()
	local behind = shoal.newservice("errors_svc")
	local queries = 0
	local real_call = shoal.call
	shoal.call = function(addr, proto, msg, ...)
		if proto == "text" and type(msg) == "string" and msg:match("^query ") then
			queries = queries + 1
			return string.format(":%08x", behind)
		end
		return real_call(addr, proto, msg, ...)
	end
	local ok, err = pcall(function()
		t.eq(cluster.call(2, ".svc", "ping"), "pong", "first call")
		t.eq(queries, 1, "one query")
		for _, text in ipairs { "no such service", "node 2 is unreachable", "node 2 lost: connection closed" } do
			t.raises(text, cluster.call, 2, ".svc", "raise", text)
			t.eq(cluster.call(2, ".svc", "ping"), "pong", "the cached handle still works")
			t.eq(queries, 1, "no new query after a handler raised '" .. text .. "'")
		end
		shoal.kill(behind)
		t.raises("no such service", cluster.call, 2, ".svc", "ping")
		behind = shoal.newservice("errors_svc")
		t.eq(cluster.call(2, ".svc", "ping"), "pong", "the name is asked again")
		t.eq(queries, 2, "a dead service's handle was forgotten")
	end)
	shoal.call = real_call
	shoal.kill(behind)
	if not ok then
		error(err, 0)
	end
end

t.start(cases, {
	"codes_pushed_from_c",
	"other_constants_pushed_from_c",
	"trycall_returns_the_code",
	"start_failure_code",
	"forged_error_payloads",
	"router_keeps_an_instance_whose_handler_says_no_such_service",
	"cluster_cache_kept_on_a_handler_error",
})
