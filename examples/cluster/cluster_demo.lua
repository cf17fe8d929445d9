-- cluster_demo: the start service of every node in examples/cluster.
--
-- Each node makes itself known to the cluster as "<role><node>" (say
-- "baseapp2") and publishes its role in its registry status. The registry
-- node also reports every few seconds which nodes are healthy, by role,
-- and how long a call to each one takes there and back.
--
-- Requests (lua protocol): "hello" -> "<role><node>"
-- Config: cluster_demo_report_ms (default 3000) between two reports.
local shoal = require "shoal"
local cluster = require "cluster"

local role = ... or "node"
local me = role .. cluster.node()
local ROLES = { "global", "baseapp", "cellapp" }

local command = {}

function command.hello()
	return me
end

-- One call there and back to a peer, by its global name: "0.4 ms" or why not.
local function round_trip(name)
	local t0 = shoal.hpc()
	local ok, err = pcall(shoal.calltimeout, 2000, name, "lua", "hello")
	if not ok then
		return "failed (" .. tostring(err):match("^[^\n]*") .. ")"
	end
	return string.format("%.2f ms", (shoal.hpc() - t0) / 1e6)
end

-- "global: global1 0.2 ms | baseapp: baseapp2 0.3 ms, baseapp3 0.3 ms | cellapp: ..."
local function report()
	local parts = {}
	for _, tag in ipairs(ROLES) do
		local ids = {}
		for _, peer in ipairs(cluster.peers(tag)) do
			ids[#ids + 1] = tonumber(peer.id)
		end
		table.sort(ids) -- the registry lists them in the order they joined
		local peers = {}
		for _, id in ipairs(ids) do
			local name = tag .. id
			peers[#peers + 1] = name .. " " .. round_trip(name)
		end
		parts[#parts + 1] = tag .. ": " .. (#peers > 0 and table.concat(peers, ", ") or "none")
	end
	shoal.log("cluster_demo: healthy peers | " .. table.concat(parts, " | "))
end

shoal.start(function()
	shoal.dispatch_commands(command)
	cluster.register(me)
	cluster.set_status { role = role }
	shoal.log("cluster_demo: " .. me .. " is up, tags " .. table.concat(cluster.tags(), ","))
	if shoal.config("registry") then
		local every = tonumber(shoal.getenv("cluster_demo_report_ms")) or 3000
		shoal.fork(function()
			while true do
				shoal.sleep(every)
				local ok, err = pcall(report)
				if not ok then
					shoal.warn("cluster_demo: no report: " .. tostring(err))
				end
			end
		end)
	end
end)
