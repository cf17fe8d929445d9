-- test_registry: the heartbeat registry (cservice/registry.c) through its
-- Lua client (lualib/shoal/registry.lua) and raw TEXT requests. Every case
-- launches its own registry with short intervals. Runs with the log in
-- SHOAL_LOGFILE (see CMakeLists.txt) so the registry's log lines can be
-- checked.
local shoal = require "shoal"
local socket = require "shoal.socket"
local registry = require "shoal.registry"
local cjson = require "cjson"
local t = require "testlib"


local function launch(args)
	return shoal.launch("registry", args or "")
end

local function raw(reg, line)
	return shoal.call(reg, "text", line)
end

-- The request must fail with one error line containing text.
local function refused(reg, line, text)
	local err = t.raises(text, raw, reg, line)
	t.ok(not err:find("\n"), "one error line: " .. err)
	return err
end

local log = t.logfile()
local wait_log = log.wait

-- Watches reg with filter; returns the list the events are appended to,
-- and the snapshot.
local function collect(reg, filter)
	local events = {}
	local snapshot = registry.new(reg):watch(filter, function(e)
		events[#events + 1] = e
	end)
	return events, snapshot
end

-- Waits for an event for which pred(e) is true; returns it.
local function wait_event(events, what, pred, ms)
	return t.wait_until(function()
		for _, e in ipairs(events) do
			if pred(e) then
				return e
			end
		end
	end, ms or 3000, 10, what)
end

local function event_is(id, name, inc)
	return function(e)
		return e.id == id and e.event == name and (inc == nil or e.inc == inc)
	end
end

-- The event names about component id, in order.
local function names(events, id)
	local out = {}
	for _, e in ipairs(events) do
		if e.id == id then
			out[#out + 1] = e.event
		end
	end
	return out
end

-- seq counts 1, 2, 3, ... with no gap.
local function check_seq(events)
	for i, e in ipairs(events) do
		t.eq(e.seq, i, "seq of event " .. i)
	end
end

-- The ids a query returns, sorted, comma-separated.
local function ids(reg, filter)
	local out = {}
	for _, c in ipairs(registry.new(reg):query(filter)) do
		out[#out + 1] = c.id
	end
	table.sort(out)
	return table.concat(out, ",")
end

-- A listener on an ephemeral port of 127.0.0.1 that counts and closes the
-- connections it gets; returns its id, its port and a function giving the
-- count.
local function listen(port)
	local accepted = 0
	local lid = assert(socket.listen("127.0.0.1", port or 0))
	socket.start(lid, function(id)
		accepted = accepted + 1
		socket.close(id)
	end)
	for _, s in ipairs(socket.info()) do
		if s.id == lid then
			return lid, math.tointeger(s.peer:match(":(%d+)$")), function()
				return accepted
			end
		end
	end
	error("listener not in socket.info()")
end

-- A port with nothing listening on it.
local function closed_port()
	local lid, port = listen()
	socket.close(lid)
	return port
end

local function component(type, id, extra)
	local spec = { type = type, id = id, node = "n1", addr = "127.0.0.1", port = 7000 }
	for k, v in pairs(extra or {}) do
		spec[k] = v
	end
	return spec
end

local cases = {}

function cases.events_in_order()
	-- suspect=3: the steps below have 300 ms before a could be suspect
	local reg = launch("interval=100 suspect=3 dead=5")
	local events = collect(reg, {})
	local a = registry.new(reg)
	t.eq(a:register(component("game", "a", { status = { load = 1 } })), 1, "first life")
	a:heartbeat({ load = 2 }) -- a change: status event
	a:heartbeat({ load = 2 }) -- no change: no event
	local b = registry.new(reg)
	b:register(component("game", "b", { interval = 60000 }))
	b:leave()
	-- a stops heartbeating here
	wait_event(events, "a dead", event_is("a", "dead"))
	t.same(names(events, "a"), { "join", "status", "suspect", "dead" }, "events of a")
	t.same(names(events, "b"), { "join", "leave" }, "events of b")
	check_seq(events)
	t.eq(events[1].status.load, 1, "join carries the status")
	t.eq(events[2].status.load, 2, "status event carries the new status")
	for _, e in ipairs(events) do
		if e.id == "a" and e.event == "suspect" then
			t.eq(e.state, "suspect", "state in the suspect event")
			t.ok(e.age_ms >= 300, "suspect after 3 intervals (age " .. e.age_ms .. " ms)")
		elseif e.id == "a" and e.event == "dead" then
			t.eq(e.state, "dead", "state in the dead event")
			t.ok(e.age_ms >= 500, "dead after 5 intervals (age " .. e.age_ms .. " ms)")
		end
		t.eq(e.watch, "", "the filter of the watch")
	end
	-- the dead stay listed until they register again or leave
	local list = registry.new(reg):query({ type = "game" })
	t.eq(#list, 1, "listed")
	t.eq(list[1].state, "dead", "listed as dead")
	wait_log("registry: join game/a inc 1")
	wait_log("registry: game/a inc 1 is suspect: no heartbeat for")
	wait_log("registry: game/a inc 1 is dead: no heartbeat for")
	wait_log("registry: leave game/b inc 1")
	shoal.kill(reg)
end

function cases.reregister_after_dead()
	local reg = launch("interval=100 suspect=1 dead=2")
	local events = collect(reg, { type = "life" })
	local r = registry.new(reg)
	t.eq(r:register(component("life", "x")), 1, "first life")
	wait_event(events, "dead", event_is("x", "dead", 1))
	refused(reg, "heartbeat type=life id=x inc=1", "registry: life/x was declared dead, register again")
	local again = cjson.decode(raw(reg, "register type=life id=x node=n1 addr=127.0.0.1 port=7000"))
	t.eq(again.inc, 2, "a new life")
	wait_event(events, "join of the new life", event_is("x", "join", 2))
	refused(reg, "heartbeat type=life id=x inc=1", "registry: stale incarnation 1 of life/x (current 2)")
	refused(reg, "leave type=life id=x inc=1", "registry: stale incarnation 1 of life/x (current 2)")
	-- the client still holds inc 1: its heartbeat registers again by itself
	t.eq(r:heartbeat({ load = 3 }), 3, "inc after the stale error")
	local join = wait_event(events, "join of inc 3", event_is("x", "join", 3))
	t.eq(join.status.load, 3, "the new life has the last status")
	wait_event(events, "dead of inc 3", event_is("x", "dead", 3))
	t.eq(r:heartbeat(), 4, "inc after being declared dead")
	r:leave()
	wait_event(events, "leave", event_is("x", "leave", 4))
	refused(reg, "heartbeat type=life id=x inc=4", "registry: unknown component life/x, register again")
	refused(reg, "leave type=life id=x inc=4", "registry: unknown component life/x")
	check_seq(events)
	shoal.kill(reg)
end

function cases.queries()
	local reg = launch("interval=60000")
	registry.new(reg):register(component("game", "g1", { tags = { "eu", "pvp" } }))
	registry.new(reg):register(component("game", "g2", { tags = { "us" } }))
	registry.new(reg):register(component("lobby", "l1", { tags = { "eu" } }))
	-- g3's own interval (20 ms) overrides the registry's: it is soon suspect
	registry.new(reg):register(component("game", "g3", { tags = { "eu" }, interval = 20 }))
	t.wait_until(function()
		return ids(reg, { healthy = true }) == "g1,g2,l1"
	end, 3000, 10, "g3 no longer healthy")
	t.eq(ids(reg, {}), "g1,g2,g3,l1", "everything")
	t.eq(ids(reg, { type = "game" }), "g1,g2,g3", "by type")
	t.eq(ids(reg, { tag = "eu" }), "g1,g3,l1", "by tag")
	t.eq(ids(reg, { type = "game", tag = "eu" }), "g1,g3", "by type and tag")
	t.eq(ids(reg, { type = "game", healthy = true }), "g1,g2", "healthy games")
	t.eq(ids(reg, { tag = "eu", healthy = true }), "g1,l1", "healthy in eu")
	t.eq(ids(reg, { type = "nope" }), "", "unknown type")
	t.eq(ids(reg, { tag = "nope" }), "", "unknown tag")
	-- in order of registration, with every field
	local list = registry.new(reg):query({})
	t.eq(list[1].id .. list[2].id .. list[3].id .. list[4].id, "g1g2l1g3", "order of registration")
	local g1 = list[1]
	t.ok(math.type(g1.age_ms) == "integer" and g1.age_ms >= 0, "age_ms")
	g1.age_ms = nil
	t.same(g1, { type = "game", id = "g1", inc = 1, node = "n1", addr = "127.0.0.1", port = 7000, eaddr = "",
		eport = 0, tags = { "eu", "pvp" }, state = "alive", status = {} }, "g1")
	shoal.kill(reg)
end

function cases.json_and_status()
	local reg = launch("interval=60000")
	local id = 'q"b\\s/\u{e9}\u{2713}'
	raw(reg, "register type=odd id=" .. id .. " node=n addr=10.0.0.5 port=1 eaddr=203.0.113.9 eport=443 "
		.. "tags=t1,t2,t1 n=-1.5e3 z=0 v=01 flag=true hex=0x10 word=abc")
	local text = raw(reg, "query type=odd")
	t.contains(text, [["id":"q\"b\\s/]], "quote and backslash escaped")
	t.contains(text, [["n":-1.5e3]], "numbers written as sent")
	local c = cjson.decode(text)[1]
	t.eq(c.id, id, "id round trip")
	t.eq(c.eaddr, "203.0.113.9", "eaddr")
	t.eq(c.eport, 443, "eport")
	t.same(c.tags, { "t1", "t2" }, "tags without duplicates")
	t.eq(c.status.n, -1500, "number")
	t.eq(c.status.z, 0, "zero")
	t.eq(c.status.v, "01", "not a JSON number: a string")
	t.eq(c.status.flag, "true", "a string")
	t.eq(c.status.hex, "0x10", "a string")
	t.eq(c.status.word, "abc", "a string")
	-- a heartbeat merges status fields
	raw(reg, "heartbeat type=odd id=" .. id .. " inc=1 n=7 extra=x")
	local s = cjson.decode(raw(reg, "query type=odd"))[1].status
	t.eq(s.n, 7, "changed")
	t.eq(s.extra, "x", "added")
	t.eq(s.word, "abc", "kept")
	-- one-way requests are applied too
	shoal.send(reg, "text", "register type=oneway id=1 node=n addr=127.0.0.1 port=1")
	t.wait_until(function()
		return ids(reg, { type = "oneway" }) == "1"
	end, 3000, 10, "one-way register applied")
	shoal.kill(reg)
end

function cases.probe_marks_dead_ports()
	local reg = launch("interval=1000 suspect=2 dead=3 probe=100")
	local events = collect(reg, { type = "svc" })
	local lid, up_port, accepted = listen()
	local down_port = closed_port()
	registry.new(reg):register(component("svc", "up", { port = up_port }))
	registry.new(reg):register(component("svc", "down", { port = down_port }))
	-- a listener that never accepts, with a backlog of 1: once the kernel
	-- queued two connections it drops the SYNs, so probes time out
	local stalled_lid = assert(socket.listen("127.0.0.1", 0, 1))
	local stalled_port
	for _, info in ipairs(socket.info()) do
		if info.id == stalled_lid then
			stalled_port = math.tointeger(info.peer:match(":(%d+)$"))
		end
	end
	registry.new(reg):register(component("svc", "stalled", { port = stalled_port }))
	-- everybody keeps heartbeating, far more often than the interval
	local beating = true
	shoal.fork(function()
		while beating do
			for _, id in ipairs({ "up", "down", "stalled" }) do
				pcall(raw, reg, "heartbeat type=svc id=" .. id .. " inc=1")
			end
			shoal.sleep(50)
		end
	end)
	wait_event(events, "down dead", event_is("down", "dead"), 5000)
	wait_event(events, "stalled dead", event_is("stalled", "dead"), 5000)
	t.wait_until(function()
		return accepted() >= 4
	end, 3000, 10, "up probed 4 times")
	t.same(names(events, "down"), { "join", "suspect", "dead" }, "events of down")
	t.same(names(events, "stalled"), { "join", "suspect", "dead" }, "events of stalled")
	t.same(names(events, "up"), { "join" }, "events of up")
	t.eq(ids(reg, { healthy = true }), "up", "healthy")
	refused(reg, "heartbeat type=svc id=down inc=1", "registry: svc/down was declared dead, register again")
	wait_log("registry: svc/down inc 1 is suspect: probe of 127.0.0.1:" .. down_port .. " failed 2 times in a row")
	wait_log("registry: svc/stalled inc 1 is suspect: probe of 127.0.0.1:" .. stalled_port .. " failed 2 times in a row")
	check_seq(events)
	beating = false
	socket.close(lid)
	socket.close(stalled_lid)
	shoal.kill(reg)
end

function cases.probe_recovers()
	-- suspect after one failed probe, dead only after 50
	local reg = launch("interval=60000 suspect=1 dead=50 probe=50")
	local events = collect(reg, {})
	local port = closed_port()
	registry.new(reg):register(component("svc", "flaky", { port = port }))
	wait_event(events, "suspect", event_is("flaky", "suspect"))
	local lid = listen(port) -- the port comes back
	local back = wait_event(events, "back", event_is("flaky", "status"))
	t.eq(back.state, "alive", "alive again")
	t.same(names(events, "flaky"), { "join", "suspect", "status" }, "events")
	wait_log("registry: svc/flaky inc 1 is alive again")
	socket.close(lid)
	shoal.kill(reg)
end

function cases.keepalive_by_name()
	local reg = launch("interval=100 suspect=5 dead=10")
	shoal.name(".registry_ka", reg)
	local events = collect(".registry_ka", { type = "ka" })
	local r = registry.new(".registry_ka")
	local ticks = 0
	r:register(component("ka", "1", { interval = 100 }))
	r:keepalive(function()
		ticks = ticks + 1
		return { tick = ticks }
	end)
	-- each heartbeat of the loop changes the status: a status event each
	wait_event(events, "third heartbeat", function(e)
		return e.event == "status" and e.status.tick == 3
	end)
	r:leave()
	wait_event(events, "leave", event_is("1", "leave"))
	-- the loop stopped: no heartbeat (which would register again) after the
	-- leave, for 3 intervals
	shoal.sleep(300)
	local seen = names(events, "1")
	t.ok(#seen >= 5, "join, 3 or more status, leave: got " .. table.concat(seen, " "))
	t.eq(seen[1], "join", "first event")
	t.eq(seen[#seen], "leave", "last event")
	for i = 2, #seen - 1 do
		t.eq(seen[i], "status", "event " .. i)
	end
	check_seq(events)
	shoal.kill(reg)
end

function cases.bad_input()
	local reg = launch()
	local ok_reg = "register type=t id=x node=n addr=127.0.0.1 port=1"
	refused(reg, "", "registry: empty request")
	refused(reg, "frobnicate a=1", "registry: unknown verb 'frobnicate'")
	refused(reg, "register id=x node=n addr=a port=1", "registry: register: missing type=")
	refused(reg, "register type=t id=x node=n addr=a", "registry: register: missing port=")
	refused(reg, "register type=t id=x addr=a port=1", "registry: register: missing node=")
	refused(reg, ok_reg:gsub("port=1", "port=http"), "registry: register: port=http is not a number in 1..65535")
	refused(reg, ok_reg:gsub("port=1", "port=70000"), "registry: register: port=70000 is not a number")
	refused(reg, ok_reg:gsub("port=1", "port=+1"), "registry: register: port=+1 is not a number")
	refused(reg, ok_reg .. " interval=5", "registry: register: interval=5 is not a number in 10..3600000")
	refused(reg, ok_reg .. " eport=-1", "registry: register: eport=-1 is not a number")
	refused(reg, ok_reg .. " tags=a,,b", "registry: register t/x: tags=a,,b has an empty tag")
	refused(reg, "register noequals", "registry: 'noequals' is not key=value")
	refused(reg, "register type=t type=u", "registry: key type given twice")
	refused(reg, "register =v", "registry: '=v' has no key")
	refused(reg, "register type=", "registry: type= has an empty value")
	refused(reg, "register ty{pe=t", "registry: bad key 'ty{pe'")
	refused(reg, "heartbeat type=t id=x inc=abc", "registry: heartbeat: inc=abc is not a number")
	refused(reg, "heartbeat type=t id=x", "registry: heartbeat: missing inc=")
	refused(reg, "heartbeat type=t id=nobody inc=1", "registry: unknown component t/nobody, register again")
	refused(reg, "leave type=t id=x", "registry: leave: missing inc=")
	refused(reg, "leave type=t id=x inc=1 why=bored", "registry: leave: unknown key 'why'")
	refused(reg, "query healthy=2", "registry: query: healthy=2 is not a number in 0..1")
	refused(reg, "query color=red", "registry: query: unknown key 'color'")
	refused(reg, "watch color=red", "registry: watch: unknown key 'color'")
	refused(reg, "query\1", "registry: control character 0x01")
	refused(reg, "query type=\255", "registry: bad UTF-8")
	refused(reg, "query type=a\0b", "registry: control character 0x00")
	refused(reg, "register type=" .. ("x"):rep(5000), "registry: request of 5014 bytes is too long (limit 4096)")
	local many = { ok_reg }
	for i = 1, 33 do
		many[#many + 1] = "s" .. i .. "=1"
	end
	refused(reg, table.concat(many, " "), "registry: register t/x: more than 32 status fields")
	refused(reg, ok_reg .. " big=" .. ("x"):rep(2100), "registry: register t/x: status fields of 2103 bytes (limit 2048)")
	local pairs65 = { "query" }
	for i = 1, 65 do
		pairs65[#pairs65 + 1] = "k" .. i .. "=1"
	end
	refused(reg, table.concat(pairs65, " "), "registry: more than 64 key=value pairs")
	t.raises("registry: requests are TEXT lines", shoal.call, reg, "lua", "register")
	-- one-way: logged, no reply
	shoal.send(reg, "text", "bogus one-way")
	wait_log("registry: unknown verb 'bogus' (register heartbeat leave watch unwatch query lease release leases transfer stats) (one-way request from "
		.. shoal.address(shoal.self()) .. ")")
	-- nothing was half-applied, and the registry still answers
	t.eq(raw(reg, "query"), "[]", "no component after the bad requests")
	t.eq(cjson.decode(raw(reg, ok_reg)).inc, 1, "a good request after the bad ones")
	t.eq(raw(reg, "heartbeat type=t id=x inc=1 load=1"), '{"ok":true}', "a heartbeat after the bad requests")
	shoal.kill(reg)
end

-- Random requests over the protocol's words: each one is answered with JSON
-- or refused with one "registry: " line, and the registry stays whole.
function cases.random_requests()
	local reg = launch("interval=50 suspect=1 dead=2 probe=50")
	local verbs = { "register", "heartbeat", "leave", "watch", "unwatch", "query", "bogus", "lease", "release",
		"leases" }
	local keys = { "type", "id", "node", "addr", "port", "eport", "eaddr", "tags", "interval", "inc", "tag",
		"healthy", "load", "x", "name", "lease" }
	local values = { "game", "g1", "1", "2", "0", "-1", "65536", "abc", "a,b", "a,,b", "127.0.0.1", "1.5",
		"99999999999999999999", 'x"y', "\u{e9}", "50" }
	math.randomseed(7)
	local answered, refusals = 0, 0
	for n = 1, 600 do
		local verb = verbs[math.random(#verbs)]
		local parts = { verb }
		if math.random(2) == 1 then -- half of them start well formed
			if verb == "register" then
				parts[2] = "type=game id=g" .. math.random(3) .. " node=n addr=127.0.0.1 port=1"
			elseif verb == "heartbeat" or verb == "leave" then
				parts[2] = "type=game id=g" .. math.random(3) .. " inc=" .. math.random(3)
			elseif verb == "lease" or verb == "release" then
				parts[2] = "name=L" .. math.random(2) .. " type=game id=g" .. math.random(3) .. " inc=" .. math.random(3)
			end
		end
		for _ = 1, math.random(0, 6) do
			parts[#parts + 1] = keys[math.random(#keys)] .. "=" .. values[math.random(#values)]
		end
		local line = table.concat(parts, " ")
		if n % 10 == 0 then
			shoal.send(reg, "text", line) -- one-way
		else
			local ok, reply = pcall(raw, reg, line)
			if ok then
				answered = answered + 1
				t.ok(pcall(cjson.decode, reply), "JSON answer to '" .. line .. "': " .. reply)
			else
				refusals = refusals + 1
				t.ok(reply:find("registry: ", 1, true) and not reply:find("\n"), "one error line: " .. reply)
			end
		end
		if n % 50 == 0 then
			shoal.sleep(20) -- let ticks and probes run between the requests
		end
	end
	t.ok(answered > 50 and refusals > 50, string.format("%d answered, %d refused", answered, refusals))
	shoal.log(string.format("random_requests: %d answered, %d refused", answered, refusals))
	for _, c in ipairs(registry.new(reg):query({})) do
		t.ok(c.type and c.id and c.inc and c.state, "a whole component")
	end
	-- a lease is free or held by a life that is not dead
	for _, l in ipairs(registry.new(reg):leases()) do
		t.ok(l.holder == nil or l.holder.state ~= "dead", "lease " .. l.name .. " held by a dead life")
	end
	shoal.kill(reg)
end

function cases.limits()
	local reg = launch("maxcomp=2 maxwatch=1")
	registry.new(reg):register(component("c", "1"))
	registry.new(reg):register(component("c", "2"))
	local third = registry.new(reg)
	local err = t.raises("registry: too many components (limit 2): c/3 not registered", third.register, third,
		component("c", "3"))
	t.ok(not err:find("\n"), "one line")
	t.eq(registry.new(reg):register(component("c", "2")), 2, "a known key registers again at the limit")
	raw(reg, "watch type=c")
	raw(reg, "watch type=c") -- the same watch again: not a second watcher
	refused(reg, "watch type=d", "registry: too many watchers (limit 1)")
	t.eq(raw(reg, "unwatch type=c"), '{"ok":true}', "unwatch")
	raw(reg, "watch type=d") -- room again
	shoal.kill(reg)
end

function cases.watch_filters_and_unwatch()
	local reg = launch("interval=60000")
	registry.new(reg):register(component("game", "old", { tags = { "eu" } }))
	local all = collect(reg, {})
	local games, snapshot = collect(reg, { type = "game" })
	t.eq(#snapshot, 1, "snapshot of the games")
	t.eq(snapshot[1].id, "old", "snapshot")
	local eu = collect(reg, { tag = "eu" })
	local eu_games = collect(reg, { type = "game", tag = "eu" })
	registry.new(reg):register(component("game", "g", { tags = { "us" } }))
	registry.new(reg):register(component("lobby", "l", { tags = { "eu" } }))
	registry.new(reg):register(component("game", "ge", { tags = { "eu" } }))
	wait_event(all, "ge joined", event_is("ge", "join"))
	-- the registry sends an event to its watchers in one go, so by now every
	-- watch has had its events for g, l and ge
	t.same(names(games, "g"), { "join" }, "games see g")
	t.same(names(games, "l"), {}, "games do not see l")
	t.same(names(eu, "l"), { "join" }, "eu sees l")
	t.same(names(eu, "g"), {}, "eu does not see g")
	t.same(names(eu_games, "ge"), { "join" }, "eu games see ge")
	t.eq(#eu_games, 1, "eu games see only ge")
	t.eq(games[1].watch, "type=game", "filter text")
	t.eq(eu_games[1].watch, "type=game tag=eu", "filter text")
	registry.new(reg):unwatch({ type = "game" })
	registry.new(reg):register(component("game", "late"))
	wait_event(all, "late joined", event_is("late", "join"))
	t.same(names(games, "late"), {}, "no events after unwatch")
	check_seq(all)
	check_seq(games)
	check_seq(eu)
	shoal.kill(reg)
end

function cases.watcher_gone_is_dropped()
	local reg = launch("interval=60000")
	local svc = shoal.newservice("registry_watch_svc")
	t.eq(shoal.call(svc, "lua", "watch", reg, {}), 0, "empty snapshot")
	local mine = collect(reg, {})
	registry.new(reg):register(component("c", "1"))
	wait_event(mine, "join 1", event_is("1", "join"))
	t.eq(shoal.call(svc, "lua", "count"), 1, "the other watcher got it")
	shoal.send(svc, "lua", "exit")
	t.wait_until(function()
		return not pcall(shoal.call, svc, "lua", "count")
	end, 3000, 10, "watcher service gone")
	registry.new(reg):register(component("c", "2"))
	wait_log(string.format("registry: watcher %s (everything) is gone, dropped", shoal.address(svc)))
	wait_event(mine, "join 2", event_is("2", "join"))
	registry.new(reg):register(component("c", "3"))
	wait_event(mine, "join 3", event_is("3", "join"))
	check_seq(mine)
	shoal.kill(reg)
end

function cases.bad_arguments()
	for _, args in ipairs({ "dead=1 suspect=2", "bogus=1", "probe=5", "probe=100 probe_timeout=200",
		"interval=abc", "maxcomp=0", "noequals" }) do
		t.raises("cannot launch registry", launch, args)
	end
	wait_log("registry: dead=1 must not be less than suspect=2")
	wait_log("registry: unknown argument 'bogus'")
	wait_log("registry: probe=5: expected 0 (off) or 10..3600000")
	wait_log("registry: probe_timeout=200 must not exceed probe=100")
	wait_log("registry: interval=abc: expected a number in 10..3600000")
	wait_log("registry: bad arguments: 'noequals' is not key=value")
end

-- Busy is not dead: a service whose own heartbeats wait behind a backlog
-- three times the dead limit stays the same life, because the node's
-- pulse service beats for it while it dispatches messages
-- (service/pulse.lua). Once it is gone, it is dead within the limit.
-- A registry (interval 100 ms, dead after 1 s) and a registry_busy_svc
-- registered in it as TYPE/1: reg, events of TYPE, the service, its inc.
local function busy_life(type)
	local reg = launch("interval=100 suspect=3 dead=10")
	local events = collect(reg, { type = type })
	local svc = shoal.newservice("registry_busy_svc")
	local inc = shoal.call(svc, "lua", "start", reg, type, "1", 100)
	wait_event(events, "join", event_is("1", "join"))
	return reg, events, svc, inc
end

function cases.busy_is_not_dead()
	local reg, events, svc, inc = busy_life("busy")
	local t0 = shoal.now()
	shoal.call(svc, "lua", "backlog", 100, 30) -- 3 s of CPU queued, one message at a time
	shoal.calltimeout(60000, svc, "lua", "burn", 0) -- answered once the backlog is done
	local took = shoal.now() - t0
	t.ok(took >= 2000, "the backlog outlasted the dead limit (1 s): " .. took .. " ms")
	t.eq(table.concat(names(events, "1"), " "):find("dead"), nil, "never dead: " .. table.concat(names(events, "1"), " "))
	t.eq(registry.new(reg):query({ type = "busy" })[1].inc, inc, "the same life")
	local beats = 0
	for _, e in ipairs(shoal.call(shoal.queryservice("pulse"), "lua", "list")) do
		if e.owner == svc then
			beats = e.beats
		end
	end
	t.ok(beats >= 10, "the pulse beat for it: " .. beats)
	shoal.kill(svc)
	wait_event(events, "dead once gone", event_is("1", "dead", inc), 5000)
	shoal.kill(reg)
end

-- Stuck is dead: a service stuck in one message gets no heartbeat from
-- the pulse; the registry declares it dead, and when it is free again its
-- keepalive registers a new life.
function cases.stuck_is_dead()
	local reg, events, svc, inc = busy_life("stuck")
	shoal.send(svc, "lua", "spin", 3000)
	wait_event(events, "dead while stuck", event_is("1", "dead", inc), 5000)
	wait_event(events, "a new life once free", function(e)
		return e.id == "1" and e.event == "join" and e.inc > inc
	end, 10000)
	shoal.kill(svc)
	wait_log("pulse: stuck/1 (:")
	wait_log("dispatched nothing in 100 ms with")
	shoal.kill(reg)
end

local function setup()
	log.mark()
end

-- stats: the counters the metrics service reads (docs/registry.md).
function cases.stats()
	local reg = launch()
	local events = collect(reg, { type = "s" })
	raw(reg, "register type=s id=1 node=n addr=127.0.0.1 port=1")
	raw(reg, "heartbeat type=s id=1 inc=1")
	refused(reg, "register type=s", "registry: register: missing id=")
	refused(reg, "stats extra=1", "registry: stats: unknown key 'extra'")
	local st = cjson.decode(raw(reg, "stats"))
	t.eq(st.ops.register, 2, "register requests (the refused one too)")
	t.eq(st.ops.heartbeat, 1, "heartbeats")
	t.eq(st.ops.watch, 1, "watches")
	t.eq(st.ops.stats, 2, "stats itself (this one and the refused one)")
	t.eq(st.errors, 2, "refused requests")
	t.eq(st.events.join, 1, "join events sent")
	t.eq(st.components, 1, "components")
	t.eq(st.watchers, 1, "watchers")
	t.eq(st.leases, 0, "leases")
	t.eq(#events, 1, "the watcher got its join")
	shoal.kill(reg)
end

t.start(cases, {
	"stats",
	"events_in_order",
	"reregister_after_dead",
	"queries",
	"json_and_status",
	"probe_marks_dead_ports",
	"probe_recovers",
	"keepalive_by_name",
	"busy_is_not_dead",
	"stuck_is_dead",
	"bad_input",
	"random_requests",
	"limits",
	"watch_filters_and_unwatch",
	"watcher_gone_is_dropped",
	"bad_arguments",
}, setup)
