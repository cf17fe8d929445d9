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

shoal.start(function()
	shoal.dispatch("lua", function(_, _, cmd, ticket, r)
		if cmd == "ds_ready" then
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
	end)
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
	shoal.newservice("dsagent", base .. "/a")
	shoal.newservice("dsagent", base .. "/b")
	local lid = assert(socket.listen("127.0.0.1", 0))
	socket.start(lid, serve)
	for _, s in ipairs(require("shoal.socketdriver").info()) do
		if s.id == lid then
			shoal.log("e2e_dsc_driver port " .. s.peer:match(":(%d+)$"))
		end
	end
end)
