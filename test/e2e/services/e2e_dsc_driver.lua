-- e2e_dsc_driver: a dscontroller (named .dscontroller) and two dsagents
-- (logs in dsagent_logdir/a and /b; the config sets dsagent_controller =
-- ".dscontroller") on one node, and line commands on a TCP port on
-- 127.0.0.1 (logged as "e2e_dsc_driver port N") for test/e2e/test_dsagent.py:
--   alloc FLEET        -> "ok AGENT ID PID" | "ticket N" | "err TEXT"
--   cancel N           -> "ok" | "err TEXT"
--   burst N C NAME     -> C coroutines make N allocations each at once:
--                         "burst ok=K tickets=T errors=E dup=D agents=A fleets=F1:n1,F2:n2"
--   alias NAME F1 [W1 F2 W2] -> "ok" | "err TEXT"   (one fleet, or a split)
--   aliases            -> "aliases NAME=TARGET ..." (sorted)
--   dups               -> "dups N": DSs handed out more than once so far
--   build NAME VERSION PATH | addfleet NAME BUILD POOL TAG | rmfleet NAME -> "ok N" | "err TEXT"
--                         (the controller's build / add_fleet / remove_fleet; the fleet's DSs get
--                         --match-ms 60000 --tag TAG)
--   split N C NAME MS  -> C coroutines allocate from NAME until N DSs are handed out or MS ms pass (a
--                         ticket's coroutine waits for its DS): "split n=K fleets=F1:n1,F2:n2 tickets=T
--                         failed=X errors=E dup=D ms=M"
--   dsalloc N NAME MS  -> N coroutines at once, each one ds.client allocate (lualib/ds/client.lua, timeout
--                         MS); the DSs are kept (held): "dsalloc n=N ok=K errors=E refused=R dup=D maxms=X"
--   multi W N NAME MS  -> W caller services (this file, "worker") with N such coroutines each, at once:
--                         "multi n=W*N ok=K errors=E refused=R dup=D maxms=X ms=M"
--   dsasync NAME MS    -> one ds.client allocate_async: "async ok AGENT/ID" | "async err TEXT"
--   pending            -> "pending N": dsalloc requests not answered yet
--   held               -> "held n=K allocated=A": DSs held here, DSs the agents count as allocated
--   release K          -> releases the K-th held DS (ds.client release): "ok" | "err TEXT"
--   release_id AGENT ID -> the agent's release of DS ID (AGENT :hex): "ok" | "err TEXT"
--   race FLEET [LATE]  -> the takeover race, made to happen: a fake controller (this file, "fake", named
--                         .dscfake) gives a ds.client request ticket 1 and exits; the client asks again of
--                         .dscfake, now the real controller, and gets a DS; then an agent sends the dead
--                         controller's late DS for ticket 1: "race kept=AGENT/ID late=AGENT/ID" (the late
--                         one must be released). With LATE (a fleet with a ready DS): the late DS (of LATE)
--                         comes while the request waits on the real controller's ticket: it is kept
--   dsstats            -> "dsstats surplus=S released=R orphaned=O reasked=A cancelled=C refs=F"
-- With the config key dsc_lease = NAME the controller is not started here:
-- calls go to the holder of the registry lease NAME (shoal.lease client,
-- timeout dsc_call_ms), the agents report to "lease:NAME".
-- A ticket's message is logged: "e2e_dsc ds_ready ticket=N agent=:H id=I pid=P"
-- or "e2e_dsc ticket_failed ticket=N err=TEXT".
local shoal = require "shoal"
local socket = require "shoal.socket"

local ctl, lc
local seen = {} -- "agent/id" -> true: every DS handed out
local dups = 0
local dsclient = require "ds.client"
local ds -- the ds.client
local agents = {}
local held = {} -- DSs handed out to dsalloc, kept
local pending = 0
local fake_asked -- race: the fake controller's request {source, ref}

-- n coroutines at once, each one allocate of name (timeout ms); the DSs
-- and the errors, counted.
local function many(n, name, ms)
	local res = { ok = 0, errors = 0, refused = 0, maxms = 0, got = {}, errs = {} }
	local me, done = coroutine.running(), 0
	pending = pending + n
	for _ = 1, n do
		shoal.fork(function()
			local t0 = shoal.now()
			local r, err = ds:allocate(name, "match", { timeout = ms })
			res.maxms = math.max(res.maxms, shoal.now() - t0)
			pending = pending - 1
			if r then
				res.ok = res.ok + 1
				res.got[#res.got + 1] = r
			elseif tostring(err):find("tickets waiting already", 1, true) then
				res.refused = res.refused + 1
			else
				res.errors = res.errors + 1
				if #res.errs < 5 then
					res.errs[#res.errs + 1] = tostring(err)
				end
			end
			done = done + 1
			if done == n then
				shoal.wakeup(me)
			end
		end)
	end
	if n > 0 then
		shoal.wait()
	end
	return res
end

local function count_dups(list)
	local d = 0
	for _, r in ipairs(list) do
		local key = r.agent .. "/" .. r.id
		if seen[key] then
			d, dups = d + 1, dups + 1
		end
		seen[key] = true
	end
	return d
end

local function call(cmd, ...)
	if lc then
		local r, err, why = lc:call(cmd, ...)
		if r == nil and why then
			err = err .. ": " .. why
		end
		return r, err
	end
	return shoal.call(ctl, "lua", cmd, ...)
end

local function alloc(fleet)
	return call("allocate", fleet, "match")
end

local function burst(n, c, fleet)
	local ok, tickets, errors, dup, agents, done, fleets = 0, 0, 0, 0, {}, 0, {}
	local me = coroutine.running()
	for _ = 1, c do
		shoal.fork(function()
			for _ = 1, n do
				local r, err = alloc(fleet)
				if r and r.ticket then
					tickets = tickets + 1
				elseif r then
					local key = r.agent .. "/" .. r.id
					if seen[key] then
						dup = dup + 1
						dups = dups + 1
					end
					seen[key] = true
					agents[r.agent] = true
					fleets[r.fleet] = (fleets[r.fleet] or 0) + 1
					ok = ok + 1
				else
					errors = errors + 1
					shoal.warn("e2e_dsc burst: " .. tostring(err))
				end
			end
			done = done + 1
			if done == c then
				shoal.wakeup(me)
			end
		end)
	end
	shoal.wait()
	local na = 0
	for _ in pairs(agents) do
		na = na + 1
	end
	local fl = {}
	for f, k in pairs(fleets) do
		fl[#fl + 1] = f .. ":" .. k
	end
	table.sort(fl)
	return string.format("burst ok=%d tickets=%d errors=%d dup=%d agents=%d fleets=%s", ok, tickets, errors, dup, na,
		table.concat(fl, ","))
end

local waiting = {} -- ticket -> the coroutine of `split` that waits for it
local results = {} -- ticket -> its DS, or false (failed), for that coroutine

local function split(n, c, name, ms)
	local got, tickets, failed, errors, dup, fleets, done = 0, 0, 0, 0, 0, {}, 0
	local t0 = shoal.now()
	local me = coroutine.running()
	local started = 0
	local function take(r)
		local key = r.agent .. "/" .. r.id
		if seen[key] then
			dup, dups = dup + 1, dups + 1
		end
		seen[key] = true
		fleets[r.fleet] = (fleets[r.fleet] or 0) + 1
		got = got + 1
	end
	for _ = 1, c do
		shoal.fork(function()
			while started < n and shoal.now() - t0 < ms do
				started = started + 1
				local r, err = alloc(name)
				if r and r.ticket then
					tickets = tickets + 1
					waiting[r.ticket] = coroutine.running()
					shoal.wait()
					local res = results[r.ticket]
					results[r.ticket] = nil
					if res then
						take(res)
					else
						failed = failed + 1
					end
				elseif r then
					take(r)
				else
					errors = errors + 1
					if errors <= 5 then
						shoal.warn("e2e_dsc split: " .. tostring(err))
					end
					shoal.sleep(1)
				end
			end
			done = done + 1
			if done == c then
				shoal.wakeup(me)
			end
		end)
	end
	shoal.wait()
	local fl = {}
	for f, k in pairs(fleets) do
		fl[#fl + 1] = f .. ":" .. k
	end
	table.sort(fl)
	return string.format("split n=%d fleets=%s tickets=%d failed=%d errors=%d dup=%d ms=%d", got, table.concat(fl, ","),
		tickets, failed, errors, dup, shoal.now() - t0)
end

local function serve(id)
	socket.start(id)
	while true do
		local line = socket.readline(id)
		if not line then
			return socket.close(id)
		end
		local w = {}
		for x in line:gmatch("%S+") do
			w[#w + 1] = x
		end
		local reply
		if w[1] == "alloc" then
			local r, err = alloc(w[2])
			if r and r.ticket then
				reply = "ticket " .. r.ticket
			elseif r then
				local key = r.agent .. "/" .. r.id
				reply = string.format("ok :%08x %d %s%s", r.agent, r.id, tostring(r.pid), seen[key] and " DUPLICATE" or "")
				if seen[key] then
					dups = dups + 1
				end
				seen[key] = true
			else
				reply = "err " .. tostring(err)
			end
		elseif w[1] == "cancel" then
			local ok, err = call("cancel", tonumber(w[2]))
			reply = ok and "ok" or "err " .. tostring(err)
		elseif w[1] == "alias" then
			local target = w[3]
			if w[4] then
				target = { { w[3], tonumber(w[4]) }, { w[5], tonumber(w[6]) } }
			end
			local ok, err = call("alias", w[2], target)
			reply = ok and "ok" or "err " .. tostring(err)
		elseif w[1] == "aliases" then
			local list, err = call("aliases")
			if list then
				local out = {}
				for k, v in pairs(list) do
					out[#out + 1] = k .. "=" .. v
				end
				table.sort(out)
				reply = "aliases " .. table.concat(out, " ")
			else
				reply = "err " .. tostring(err)
			end
		elseif w[1] == "split" then
			reply = split(tonumber(w[2]), tonumber(w[3]), w[4], tonumber(w[5]))
		elseif w[1] == "build" or w[1] == "addfleet" or w[1] == "rmfleet" then
			local ok, err
			if w[1] == "build" then
				ok, err = call("build", w[2], w[3], w[4])
			elseif w[1] == "addfleet" then
				ok, err = call("add_fleet", { name = w[2], build = w[3], pool = tonumber(w[4]),
					args = { "--match-ms", "60000", "--tag", w[5] }, ports = { 41000, 41999 } })
			else
				ok, err = call("remove_fleet", w[2])
			end
			reply = ok and "ok " .. tostring(err) or "err " .. tostring(err)
		elseif w[1] == "dsalloc" then
			local n, ms = math.tointeger(tonumber(w[2])), math.tointeger(tonumber(w[4]))
			if not n or not ms or n < 0 or ms <= 0 then
				reply = "err usage: dsalloc N NAME MS"
			else
				local res = many(n, w[3], ms)
				for _, r in ipairs(res.got) do
					held[#held + 1] = r
				end
				for _, e in ipairs(res.errs) do
					shoal.warn("e2e_dsc dsalloc: " .. e)
				end
				reply = string.format("dsalloc n=%d ok=%d errors=%d refused=%d dup=%d maxms=%d", n, res.ok, res.errors,
					res.refused, count_dups(res.got), res.maxms)
			end
		elseif w[1] == "multi" then
			local wn, n, ms = math.tointeger(tonumber(w[2])), math.tointeger(tonumber(w[3])), math.tointeger(tonumber(w[5]))
			if not wn or not n or not ms or wn < 1 or n < 0 or ms <= 0 then
				reply = "err usage: multi W N NAME MS"
			else
				local t0, fns = shoal.now(), {}
				for i = 1, wn do
					local wk = shoal.newservice("e2e_dsc_driver", "worker")
					fns[i] = function()
						return shoal.calltimeout(ms + 30000, wk, "lua", "run", n, w[4], ms)
					end
				end
				local sum = { ok = 0, errors = 0, refused = 0, maxms = 0, dup = 0 }
				for _, p in ipairs(shoal.parallel(fns)) do
					if p[1] then
						local res = p[2]
						sum.ok, sum.errors, sum.refused = sum.ok + res.ok, sum.errors + res.errors, sum.refused + res.refused
						sum.maxms = math.max(sum.maxms, res.maxms)
						sum.dup = sum.dup + count_dups(res.got)
						for _, e in ipairs(res.errs) do
							shoal.warn("e2e_dsc multi: " .. e)
						end
					else
						sum.errors = sum.errors + n
						shoal.warn("e2e_dsc multi: a worker failed: " .. tostring(p[2]))
					end
				end
				reply = string.format("multi n=%d ok=%d errors=%d refused=%d dup=%d maxms=%d ms=%d", wn * n, sum.ok,
					sum.errors, sum.refused, sum.dup, sum.maxms, shoal.now() - t0)
			end
		elseif w[1] == "dsasync" then -- allocate_async: the callback's answer
			local got, done = nil, false
			ds:allocate_async(w[2], "async", { timeout = math.tointeger(tonumber(w[3])) or 1000 }, function(r, err)
				got, done = r or err, true
			end)
			while not done do -- bounded by the request's timeout
				shoal.sleep(10)
			end
			if type(got) == "table" then
				held[#held + 1] = got
				reply = string.format("async ok :%08x/%d", got.agent, got.id)
			else
				reply = "async err " .. tostring(got)
			end
		elseif w[1] == "pending" then
			reply = "pending " .. pending
		elseif w[1] == "held" then
			local allocated = 0
			for _, h in ipairs(agents) do
				allocated = allocated + shoal.call(h, "lua", "load").by_state.allocated
			end
			reply = string.format("held n=%d allocated=%d", #held, allocated)
		elseif w[1] == "release" then
			local r = held[math.tointeger(tonumber(w[2])) or 0]
			local ok, err = ds:release(r)
			reply = ok and "ok" or "err " .. tostring(err)
		elseif w[1] == "release_id" then
			local ok, done, err = shoal.trycalltimeout(2000, tonumber((w[2] or ""):match("^:(%x+)$") or "", 16) or 0,
				"lua", "release", math.tointeger(tonumber(w[3])) or w[3])
			reply = ok and done and "ok" or "err " .. tostring(ok and err or done)
		elseif w[1] == "race" then
			local fake = shoal.newservice("e2e_dsc_driver", "fake")
			shoal.name(".dscfake", fake)
			local c2 = dsclient.new { controller = ".dscfake", check_ms = 50, call_ms = 1000 }
			local r, err, finished = nil, nil, false
			local reasked = dsclient.stats().reasked
			shoal.fork(function()
				r, err = c2:allocate(w[2], "race", { timeout = 5000 })
				finished = true
			end)
			fake_asked = nil
			while fake_asked == nil do -- the fake's ticket given
				shoal.sleep(10)
			end
			while shoal.localname(".dscfake") == fake do -- it exits 100 ms after its answer
				shoal.sleep(10)
			end
			shoal.name(".dscfake", ctl)
			local late_fleet, late, e2 = w[3], nil, nil
			if late_fleet then -- the late DS while the request waits on its new ticket
				while dsclient.stats().reasked == reasked and not finished do
					shoal.sleep(10)
				end
				shoal.sleep(200) -- its new ticket given
				late, e2 = shoal.call(agents[1], "lua", "allocate", late_fleet, "late",
					{ to = fake_asked.source, ticket = 1, ref = fake_asked.ref })
			end
			while not finished do -- bounded: the request's 5 s
				shoal.sleep(10)
			end
			if late_fleet then
				if r then
					held[#held + 1] = r
				end
				reply = late and r and string.format("race kept=:%08x/%d late=:%08x/%d", r.agent, r.id, agents[1], late.id)
					or "err " .. tostring(err or e2)
			elseif not r then
				reply = "err " .. tostring(err)
			else
				held[#held + 1] = r
				local late, e2 = shoal.call(agents[1], "lua", "allocate", w[2], "late",
					{ to = fake_asked.source, ticket = 1, ref = fake_asked.ref })
				reply = late and string.format("race kept=:%08x/%d late=:%08x/%d", r.agent, r.id, agents[1], late.id)
					or "err " .. tostring(e2)
			end
		elseif w[1] == "dsstats" then
			local st = dsclient.stats()
			reply = string.format("dsstats surplus=%d released=%d orphaned=%d reasked=%d cancelled=%d refs=%d", st.surplus,
				st.released, st.orphaned, st.reasked, st.cancelled, st.refs)
		elseif w[1] == "dups" then
			reply = "dups " .. dups
		elseif w[1] == "burst" then
			reply = burst(tonumber(w[2]), tonumber(w[3]), w[4])
		else
			reply = "err unknown command"
		end
		socket.write(id, reply .. "\n")
	end
end

local mode = ...

if mode == "fake" then -- `race`'s controller: allocate answers ticket 1, then this service exits
	shoal.start(function()
		shoal.dispatch("lua", function(_, source, cmd, _, _, ref)
			if cmd == "allocate" then
				shoal.send(".dscdriver", "lua", "fake_asked", source, ref)
				shoal.timeout(100, shoal.exit)
				return { ticket = 1, waiting = 1 }
			elseif cmd == "state" then
				return { active = true, epoch = 0, id = "fake" }
			end
		end)
	end)
	return
end

local function client_opts()
	local remote = shoal.getenv("dsc_lease")
	if remote and remote ~= "" then
		return { controller = "lease:" .. remote,
			call_ms = math.tointeger(tonumber(shoal.getenv("dsc_call_ms"))) or 500 }
	end
	return { controller = ".dscontroller" }
end

if mode == "worker" then -- one of `multi`'s callers: run(n, name, ms) -> many()'s counts and DSs
	shoal.start(function()
		ds = dsclient.new(client_opts())
		shoal.dispatch("lua", dsclient.dispatch(function(_, _, cmd, n, name, ms)
			if cmd == "run" then
				return many(n, name, ms)
			end
		end))
	end)
	return
end

shoal.start(function()
	ds = dsclient.new(client_opts())
	shoal.name(".dscdriver", shoal.self())
	shoal.dispatch("lua", dsclient.dispatch(function(_, _, cmd, ticket, r)
		if cmd == "fake_asked" then
			fake_asked = { source = ticket, ref = r }
		elseif cmd == "ds_ready" then
			local key = r.agent .. "/" .. r.id
			shoal.log(string.format("e2e_dsc ds_ready ticket=%d agent=:%08x id=%d pid=%s%s", ticket, r.agent, r.id,
				tostring(r.pid), seen[key] and " DUPLICATE" or ""))
			if waiting[ticket] then -- a split's: it counts it
				local co = waiting[ticket]
				waiting[ticket], results[ticket] = nil, r
				return shoal.wakeup(co)
			end
			if seen[key] then
				dups = dups + 1
			end
			seen[key] = true
		elseif cmd == "ds_ticket_failed" then
			if waiting[ticket] then
				local co = waiting[ticket]
				waiting[ticket], results[ticket] = nil, false
				shoal.wakeup(co)
			end
			shoal.log(string.format("e2e_dsc ticket_failed ticket=%d err=%s", ticket, r))
		end
	end))
	local remote = shoal.getenv("dsc_lease")
	if remote and remote ~= "" then
		lc = require("shoal.lease").client(remote,
			{ timeout = math.tointeger(tonumber(shoal.getenv("dsc_call_ms"))) or 500 })
	else
		ctl = shoal.newservice("dscontroller")
		shoal.name(".dscontroller", ctl)
	end
	local base = shoal.config("dsagent_logdir")
	assert(require("shoal.proc").mkdir(base))
	agents[1] = shoal.newservice("dsagent", base .. "/a")
	agents[2] = shoal.newservice("dsagent", base .. "/b")
	local lid = assert(socket.listen("127.0.0.1", 0))
	socket.start(lid, serve)
	for _, s in ipairs(require("shoal.socketdriver").info()) do
		if s.id == lid then
			shoal.log("e2e_dsc_driver port " .. s.peer:match(":(%d+)$"))
		end
	end
end)
