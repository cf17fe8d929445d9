-- cluster_probe: the start service of every node in the cluster tests.
--
-- Answers calls from other nodes (lua protocol):
--   "ping"          -> "pong from node N"
--   "echo", x       -> x
--   "sleep", ms     -> "slept" after ms
-- and is reachable as ".probe" on its node and as the global name probeN.
--
-- The test drives it over a line protocol on 127.0.0.1:probe_port; every
-- command answers one line:
--   call NODE NAME N MS   N concurrent calls "sleep MS" to NAME on NODE
--                         (NAME "global:X" calls the global name X) ->
--                         "done ok=K err=M ms=T first=<first error>"
--   ping NODE NAME        one call "ping" -> "ok <reply>" | "err <why>"
--   big NODE SIZE         echo of a SIZE-byte string -> "ok SIZE" | "err ..."
--   flood NODE SIZE MAX   one-way SIZE-byte sends to .probe on NODE until one
--                         fails or MAX were sent -> "sent K err=<why>"
--   nodes                 the harbor's table, one line (";"-joined)
--   sends NODE N          N one-way "count" sends to .probe on NODE, then a
--                         call that returns how many it counted -> "counted K"
--   watch                 start recording registry events of type node
--   events                the recorded events: "id:event:inc:seq ..."
--   peers [TAG]           healthy nodes (with TAG): "1 2 3"
--   status K V            cluster.set_status{K = V}
--   peerstatus NODE K     state and status field K of NODE: "alive 42"
--   proto ID NODE         register a protocol with id ID and send "ping" with
--                         it to .probe on NODE -> "refused <why>" | "sent"
local shoal = require "shoal"
local socket = require "shoal.socket"
local cluster = require "cluster"

local me = cluster.node()

local function target(node, name)
	local global = name:match("^global:(.+)$")
	if global then
		return function(...)
			return shoal.call(global, "lua", ...)
		end
	end
	return function(...)
		return cluster.call(node, name, ...)
	end
end

local function calls(node, name, n, ms)
	local call = target(node, name)
	local ok, err, first, left = 0, 0, nil, n
	local me_co = coroutine.running()
	local t0 = shoal.now()
	for _ = 1, n do
		shoal.fork(function()
			local good, why = pcall(call, "sleep", ms)
			if good then
				ok = ok + 1
			else
				err = err + 1
				first = first or tostring(why)
			end
			left = left - 1
			if left == 0 then
				shoal.wakeup(me_co)
			end
		end)
	end
	shoal.wait()
	return string.format("done ok=%d err=%d ms=%d first=%s", ok, err, shoal.now() - t0, first or "")
end

local commands = {}

function commands.call(node, name, n, ms)
	return calls(tonumber(node), name, tonumber(n), tonumber(ms))
end

function commands.ping(node, name)
	local ok, reply = pcall(target(tonumber(node), name), "ping")
	return (ok and "ok " or "err ") .. tostring(reply)
end

function commands.big(node, size)
	size = tonumber(size)
	local parts = {}
	for i = 1, size // 16 + 1 do
		parts[i] = string.format("%015d|", i)
	end
	local s = table.concat(parts):sub(1, size)
	local ok, back = pcall(cluster.call, tonumber(node), ".probe", "echo", s)
	if not ok then
		return "err " .. tostring(back)
	end
	return back == s and ("ok " .. #back) or "err mismatch"
end

function commands.flood(node, size, max)
	local s = string.rep("x", tonumber(size))
	local handle = cluster.query(tonumber(node), ".probe")
	for i = 1, tonumber(max) do
		local ok, err = shoal.send(handle, "lua", "drop", s)
		if not ok then
			return string.format("sent %d err=%s", i - 1, err)
		end
	end
	return "sent " .. max .. " err="
end

local events = {}
local counted = 0
local count_metric = shoal.getenv("probe_metrics") and require("shoal.metrics").counter("e2e_probe_counted_total",
	"One-way count messages this probe handled.")

function commands.sends(node, n)
	node = tonumber(node)
	local before = cluster.call(node, ".probe", "counted")
	for i = 1, tonumber(n) do
		assert(cluster.send(node, ".probe", "count", i))
	end
	-- one link, in order: this call is answered after every send arrived
	return "counted " .. (cluster.call(node, ".probe", "counted") - before)
end

function commands.watch()
	cluster.watch({ type = "node" }, function(e)
		events[#events + 1] = string.format("%s:%s:%d:%d", e.id, e.event, e.inc, e.seq)
	end)
	return "ok"
end

function commands.events()
	return table.concat(events, " ")
end

function commands.peers(tag)
	local ids = {}
	for _, c in ipairs(cluster.peers(tag)) do
		ids[#ids + 1] = tonumber(c.id)
	end
	table.sort(ids)
	return table.concat(ids, " ")
end

function commands.status(k, v)
	cluster.set_status { [k] = tonumber(v) or v }
	return "ok"
end

function commands.peerstatus(node, k)
	local c = cluster.peer_status(tonumber(node))
	if not c then
		return "none"
	end
	return c.state .. " " .. tostring(c.status[k])
end

function commands.proto(id, node)
	local name = "p" .. id
	local ok, err = pcall(shoal.register_protocol,
		{ name = name, id = tonumber(id), pack = shoal.packstring, unpack = shoal.unpack })
	if not ok then
		return "refused " .. tostring(err)
	end
	local sent, why = shoal.send(cluster.query(tonumber(node), ".probe"), name, "ping")
	return sent and "sent" or ("not sent " .. tostring(why))
end

function commands.nodes()
	return (cluster.nodes():gsub("\n", ";"))
end

local function serve(id)
	socket.start(id)
	while true do
		local line = socket.readline(id)
		if not line then
			return
		end
		local words = {}
		for w in line:gmatch("%S+") do
			words[#words + 1] = w
		end
		local fn = commands[words[1] or ""]
		local ok, reply = pcall(fn or error, table.unpack(words, 2))
		if not fn then
			reply = "err unknown command"
		elseif not ok then
			reply = "err " .. tostring(reply)
		end
		local text = string.gsub(tostring(reply), "\n", " ")
		socket.write(id, text .. "\n")
	end
end

shoal.start(function()
	shoal.dispatch("lua", function(_, _, cmd, arg)
		if cmd == "ping" then
			return "pong from node " .. me
		elseif cmd == "echo" then
			return arg
		elseif cmd == "sleep" then
			shoal.sleep(arg)
			return "slept"
		elseif cmd == "drop" then
			return
		elseif cmd == "count" then
			counted = counted + 1
			if count_metric then -- test_metrics.py: a shoal.metrics counter that moves with it
				count_metric:inc()
			end
			return
		elseif cmd == "counted" then
			return counted
		end
		error("cluster_probe: unknown command " .. tostring(cmd))
	end)
	shoal.name(".probe", shoal.self())
	local lid = assert(socket.listen("127.0.0.1", tonumber(shoal.getenv("probe_port"))))
	socket.start(lid, serve)
	cluster.register("probe" .. me)
	shoal.log("cluster probe ready on node " .. me)
end)
