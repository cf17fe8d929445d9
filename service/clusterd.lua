-- clusterd: this node's member of the cluster registry. Started by
-- bootstrap after the harbor when the config has `cluster`.
--
-- * The node with `registry = true` runs the registry (cservice/registry.c)
--   under the cluster-global name "registry"; every node finds it by that
--   name once its harbor is connected to that node.
-- * Registers this node as a component {type = "node", id = node id, addr
--   and port of its harbor, tags = config `tags`} and heartbeats every
--   heartbeat_ms with the status fields changed since the last heartbeat
--   (cluster.set_status only marks them: one message per interval, not
--   one per change). After the registry declared this node dead (it was
--   frozen or cut off), the next heartbeat registers it again with a new
--   incarnation.
-- * Learns other nodes' addresses from the registry (join events), so a
--   node needs only the registry node's address in `cluster`.
-- * With registry_backend = "etcd" the registry is etcd (the
--   registry_etcd_* keys; shoal/registry_etcd.lua): no built-in registry
--   runs anywhere (`registry = true` is ignored, with a warning in the
--   log), the heartbeat is the etcd lease's keepalive, peers come from
--   the etcd watch, and an etcd that does not answer shows as
--   "clusterd: heartbeat failed: registry: etcd unavailable: ..." lines
--   while the node goes on and retries every interval.
--
-- Requests (lua protocol, from lualib/cluster.lua):
--   "status", fields   merge into the next heartbeat (one-way)
--   "registry"         -> the registry's handle, waiting for it if need be
--                         (built-in backend only, raises on etcd:
--                         cluster.registry() builds the etcd client itself)
local shoal = require "shoal"
local registry = require "shoal.registry"
local cluster = require "cluster"

local node = shoal.config("node")
local etcd = shoal.config("registry_backend") == "etcd"
local interval = shoal.config("heartbeat_ms")
local changed = {} -- status fields not yet sent
local registry_handle -- once known
local waiting = {} -- coroutines waiting for it

-- Host and port of this node's harbor, from `harbor` or this node's
-- entry in `cluster`.
local function harbor_address()
	local listen = shoal.config("harbor")
	if listen ~= "" then
		return listen:match("^(.*):(%d+)$")
	end
	for n, host, port in shoal.config("cluster"):gmatch("(%d+)@([^,%s]+):(%d+)") do
		if tonumber(n) == node then
			return host, port
		end
	end
end

local function start_registry()
	local args = string.format("interval=%d suspect=%d dead=%d probe=%d maxlease=%d", interval,
		shoal.config("registry_suspect"), shoal.config("registry_dead"), shoal.config("registry_probe"),
		shoal.config("object_max_leases"))
	local handle = shoal.launch("registry", args)
	cluster.register("registry", handle)
	shoal.name(".registry", handle)
end

-- Waits (bounded by nothing but the node's life: this is a daemon) until
-- the harbor has learnt the global name "registry".
local function find_registry()
	while true do
		local handle = shoal.localname("registry")
		if handle then
			return handle
		end
		shoal.sleep(interval // 4 + 1)
	end
end

-- Tells the harbor where a node listens (registry join/status events).
local function learn_peer(c)
	local n = tonumber(c.id)
	if c.type == "node" and n and n ~= node and c.addr and c.port then
		pcall(shoal.call, shoal.harbor_of(node), "text", string.format("peer %d %s:%d", n, c.addr, c.port))
	end
end

local function member()
	local r
	if etcd then
		r = registry.new(".registry") -- a name: the etcd client of the config's keys
	else
		registry_handle = find_registry()
		for _, co in ipairs(waiting) do
			shoal.wakeup(co)
		end
		waiting = {}
		r = registry.new(registry_handle)
	end
	local host, port = harbor_address()
	local spec = { type = "node", id = node, node = node, addr = host, port = port, tags = cluster.tags(), interval = interval }
	while true do
		local ok, err = pcall(r.register, r, spec)
		if ok then
			break
		end
		shoal.warn("clusterd: register failed (again in " .. interval .. " ms): " .. tostring(err))
		shoal.sleep(interval)
	end
	shoal.log(string.format("clusterd: node %d registered (incarnation %d)", node, r.inc))
	shoal.on_exit(function() -- graceful stop: a "leave" event instead of a death
		pcall(r.leave, r)
	end)
	-- (again after a re-registration: the registry drops watchers it could not reach)
	local function watch()
		local ok, list = pcall(r.watch, r, { type = "node" }, learn_peer)
		for _, c in ipairs(ok and list or {}) do
			learn_peer(c)
		end
	end
	watch()
	while true do
		shoal.sleep(interval)
		local batch = changed
		changed = {}
		local before = r.inc
		local good, err = pcall(r.heartbeat, r, batch)
		if not good then
			for k, v in pairs(batch) do -- send them with the next one
				if changed[k] == nil then
					changed[k] = v
				end
			end
			shoal.warn("clusterd: heartbeat failed: " .. tostring(err))
		elseif r.inc ~= before then
			shoal.log(string.format("clusterd: node %d registered again (incarnation %d)", node, r.inc))
			watch()
		end
	end
end

local command = {}

function command.status(fields)
	for k, v in pairs(fields) do
		changed[k] = v
	end
end

function command.registry()
	if etcd then -- no handle would ever come
		error("clusterd: registry_backend = etcd: no registry service (cluster.registry() is the etcd client)")
	end
	if not registry_handle then
		waiting[#waiting + 1] = coroutine.running()
		shoal.wait()
	end
	return registry_handle
end

shoal.start(function()
	shoal.dispatch_commands(command)
	shoal.name(".clusterd", shoal.self())
	if shoal.config("registry") and etcd then
		shoal.warn("clusterd: registry = true ignored: registry_backend = etcd, the built-in registry is not started")
	elseif shoal.config("registry") then
		start_registry()
	end
	shoal.fork(member)
end)
