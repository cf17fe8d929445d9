-- test_logjson: log_format = "json" (cservice/logger.c; docs/operations.md,
-- "Logs"): every line is one JSON object with time, node, service, address,
-- level and text; a structured event (shoal.event) adds the event and its
-- fields; hostile text (control bytes, bad UTF-8) still makes valid JSON.
local shoal = require "shoal"
local cjson = require "cjson"
local t = require "testlib"

local cases = {}

local function lines_since(offset)
	local f = assert(io.open(os.getenv("SHOAL_LOGFILE")))
	f:seek("set", offset)
	local out = {}
	for line in f:lines() do
		local ok, obj = pcall(cjson.decode, line)
		t.ok(ok and type(obj) == "table", "a JSON object: " .. line)
		out[#out + 1] = obj
	end
	f:close()
	return out
end

local function wait_for(offset, pred, what)
	local found
	t.wait_until(function()
		for _, o in ipairs(lines_since(offset)) do
			if pred(o) then
				found = o
				return true
			end
		end
	end, 3000, 10, what)
	return found
end

local function offset()
	local f = assert(io.open(os.getenv("SHOAL_LOGFILE")))
	local n = f:seek("end")
	f:close()
	return n
end

function cases.fields()
	local at = offset()
	local line = shoal.event("test", "kick", { "account", 7, "why", "two words", "node", 3, "msg", "x" })
	t.eq(line, "test: event=kick account=7 why=two_words node=3 msg=x", "the text line")
	local o = wait_for(at, function(o) return o.event == "kick" end, "the event line")
	t.eq(o.account, "7", "a field")
	t.eq(o.why, "two_words", "whitespace in a value made one token")
	t.eq(o.field_node, "3", "a field named like a key of the line is prefixed")
	t.eq(o.field_msg, "x", "msg too")
	t.eq(o.node, 1, "the node id")
	t.eq(o.service, "test_logjson", "the service's name")
	t.eq(o.addr, shoal.address(shoal.self()), "its address")
	t.eq(o.level, "info", "the level")
	t.eq(o.msg, line, "the whole text")
	t.ok(type(o.unix_ms) == "number" and math.abs(o.unix_ms / 1000 - os.time()) < 60, "unix_ms")
	t.ok(o.time:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%d[+-]%d%d%d%d$"), "ISO 8601 time: " .. o.time)
	-- quoted values (Lua's %q, as dsagent writes them), free text after the pairs, alerts
	shoal.log('dsagent event=reaped ds=3 reason="match \\"over\\"" exit="signal 9" and then free text')
	o = wait_for(at, function(o) return o.event == "reaped" end, "a line with quoted values")
	t.eq(o.ds, "3", "a plain value")
	t.eq(o.reason, 'match "over"', "a quoted value, unescaped")
	t.eq(o.exit, "signal 9", "another")
	t.eq(o["and"], nil, "free text after the pairs is not a field")
	shoal.warn("dsagent alert=crash ds=4 fleet=f")
	o = wait_for(at, function(o) return o.alert == "crash" end, "an alert line")
	t.eq(o.fleet, "f", "its fields")
	t.eq(o.event, nil, "an alert is not an event")
	shoal.event("test", "alarm", { "what", "disk" }, "warn")
	o = wait_for(at, function(o) return o.event == "alarm" end, "a warn event")
	t.eq(o.level, "warn", "at its level")
end

function cases.hostile_text()
	local at = offset()
	shoal.warn("bad \255 byte \1 and a \"quote\" \\ event=")
	local o = wait_for(at, function(o) return o.level == "warn" and o.msg:find("bad", 1, true) end, "the warn line")
	t.eq(o.msg, "bad \\xff byte \\x01 and a \"quote\" \\ event=", "escaped as in a text log, then JSON-quoted")
	t.eq(o.event, nil, "no event from a line whose pairs do not parse")
	local svc = shoal.newservice("hang_svc")
	shoal.send(svc, "lua", "no_such_command") -- an error logged by another service
	wait_for(at, function(o) return o.level == "error" and o.addr == shoal.address(svc) end, "its error line")
	shoal.kill(svc)
end

t.start(cases, { "fields", "hostile_text" })
