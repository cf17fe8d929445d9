-- cluster.lua - calling services on other nodes.
--
-- A handle carries its node id (high 8 bits), so shoal.call/shoal.send to a
-- handle of another node already cross the cluster through the harbor
-- (cservice/harbor.c). This module adds names:
--
--   cluster.call(node, name, ...)    call service `name` (".local" or global) on node
--   cluster.send(node, name, ...)    one-way; -> true | false, err
--   cluster.query(node, name)        its handle (cached until the node is lost)
--   cluster.register(name [, addr])  make `name` a cluster-global name for addr
--                                    (default: this service); then
--                                    shoal.call(name, ...) works on every node
--   cluster.node()                   this node's id
--   cluster.nodeof(handle)           the node a handle lives on
--   cluster.nodes()                  the harbor's table of peers (text)
--
-- With the registry (service/clusterd.lua, docs/cluster.md):
--   cluster.tags()                   this node's tags (config `tags`)
--   cluster.set_status{k = v, ...}   status fields sent with the next heartbeat
--   cluster.peers([tag])             healthy nodes (with the tag): component tables
--   cluster.peer_status(node)        node's component (state, status, ...) or nil
--   cluster.watch(filter, fn)        registry events: filter {type = ..} or {tag = ..}
--   cluster.registry()               the registry client (shoal/registry.lua; on etcd
--                                    with registry_backend = "etcd")
--
-- Every call has a timeout (config call_timeout; cluster.calltimeout takes
-- one), and a call to a node that is lost fails at once with an error
-- naming the node: no coroutine waits forever on a dead peer.
local shoal = require "shoal"

local cluster = {}

local HARBOR_PROTO = "text"
local cache = {} -- [node][name] = handle

function cluster.node()
	return shoal.config("node")
end

function cluster.nodeof(handle)
	return shoal.nodeof(handle)
end

-- The handle of node's harbor (local id 0).
local function harbor(node)
	return shoal.harbor_of(node)
end

function cluster.query(node, name)
	local names = cache[node]
	if names == nil then
		names = {}
		cache[node] = names
	end
	local handle = names[name]
	if handle == nil then
		local reply = shoal.call(harbor(node), HARBOR_PROTO, "query " .. name)
		handle = tonumber(reply:sub(2), 16)
		names[name] = handle
	end
	return handle
end

-- The codes after which a cached handle may be stale: the node restarted
-- or was lost, or the service behind the name is gone. A handler's own
-- error (SHOAL_ERAISED) keeps the handle, whatever its text says.
local E = shoal.errors
local STALE = { [E.NODEDOWN] = true, [E.NOSERVICE] = true, [E.EXITING] = true }

local function forget(node, name, code)
	if STALE[code] and cache[node] then
		cache[node][name] = nil
	end
end

local function call(ms, node, name, ...)
	local ok, handle = pcall(cluster.query, node, name)
	if not ok then
		error(handle, 3)
	end
	local result = table.pack(shoal.trycalltimeout(ms, handle, "lua", ...))
	if not result[1] then
		local code, why = result[2], result[3]
		forget(node, name, code)
		error(string.format("call %s failed: %s", shoal.address(handle), why), 3)
	end
	return table.unpack(result, 2, result.n)
end

function cluster.call(node, name, ...)
	return call(shoal.config("call_timeout"), node, name, ...)
end

function cluster.calltimeout(ms, node, name, ...)
	return call(ms, node, name, ...)
end

function cluster.send(node, name, ...)
	local ok, handle = pcall(cluster.query, node, name)
	if not ok then
		return false, handle
	end
	return shoal.send(handle, "lua", ...)
end

function cluster.register(name, addr)
	addr = addr or shoal.self()
	if type(addr) == "string" then
		addr = shoal.localname(addr) or error("no service " .. addr, 2)
	end
	shoal.call(harbor(cluster.node()), HARBOR_PROTO, string.format("register %s :%08x", name, addr))
end

function cluster.nodes()
	return shoal.call(harbor(cluster.node()), HARBOR_PROTO, "nodes")
end

function cluster.tags()
	local list = {}
	for tag in shoal.config("tags"):gmatch("[^,%s]+") do
		list[#list + 1] = tag
	end
	return list
end

-- One-way to clusterd, which merges fields until its next heartbeat.
function cluster.set_status(fields)
	return shoal.send(".clusterd", "lua", "status", fields)
end

local client
function cluster.registry()
	if client == nil then
		local registry = require "shoal.registry"
		if shoal.config("registry_backend") == "etcd" then
			client = registry.new(".registry") -- the etcd client of the config's registry_etcd_* keys
		else
			client = registry.new(shoal.call(".clusterd", "lua", "registry"))
		end
	end
	return client
end

function cluster.peers(tag)
	return cluster.registry():query { type = "node", tag = tag, healthy = true }
end

function cluster.peer_status(node)
	for _, c in ipairs(cluster.registry():query { type = "node" }) do
		if tonumber(c.id) == node then
			return c
		end
	end
end

function cluster.watch(filter, fn)
	return cluster.registry():watch(filter, fn)
end

return cluster
