-- game/baseappmgr.lua - reaching the active baseappmgr (docs/baseappmgr.md).
--
-- Two baseappmgr instances run; the one holding the registry lease
-- "baseappmgr" answers picks, the other is a standby that answers
-- NOT_ACTIVE. Callers find the active one through the lease (its holder's
-- status field `handle`) and never wait on a dead one past a timeout:
--
--   local mgr = require "game.baseappmgr"
--   local rec, code, why = mgr.pick(account)  -- the cluster's registry, call_timeout
--   -- rec: {id, node, host, port, epoch}; or nil, code, why with code one of
--   -- balance.NO_BASEAPP, balance.OVER_CAPACITY, mgr.NO_MANAGER
--   local c = mgr.client { registry = r_or_addr, timeout = ms }  -- a client of its own
--   c:pick(account)  c:candidates()  c:capacity()
--
-- A call goes to the cached active one. When it answers NOT_ACTIVE (it
-- is, or became, the standby) or cannot be reached (its node is lost, the
-- service is gone, no answer within `timeout`), the client looks the
-- holder up again and tries once more. So one pick takes at most two
-- calls of `timeout` and two lease look-ups of `timeout`, and fails with
-- NO_MANAGER while the lease is free or held by a life the registry has
-- not yet declared dead (the failure-detection bound): the caller retries
-- later or tells its client "retry after".
local shoal = require "shoal"

local mgr = {}

mgr.LEASE = "baseappmgr" -- the lease's name in the registry
mgr.NOT_ACTIVE = "not_active" -- the code of a standby's answer
mgr.NO_MANAGER = "no_manager" -- no active baseappmgr can be reached now

local client = {}
client.__index = client

function mgr.client(opts)
	opts = opts or {}
	local r = opts.registry
	if r == nil then
		r = require("cluster").registry()
	elseif type(r) ~= "table" then
		r = require("shoal.registry").new(r)
	end
	return setmetatable({ r = r, timeout = opts.timeout or shoal.config("call_timeout"), handle = nil }, client)
end

-- The active one's handle from the lease, or nil, why.
function client:find()
	local ok, list = pcall(self.r.leases, self.r, mgr.LEASE, self.timeout)
	if not ok then
		return nil, "the registry did not answer: " .. tostring(list)
	end
	local l = list[1]
	if l == nil or l.holder == nil then
		return nil, string.format("no baseappmgr holds the lease (epoch %d)", l and l.epoch or 0)
	end
	local h = l.holder.status and l.holder.status.handle
	if math.type(h) ~= "integer" then
		return nil, "the lease holder " .. tostring(l.holder.id) .. " reports no handle"
	end
	self.handle = h
	return h
end

-- One command to the active one, with the retry above.
function client:request(cmd, ...)
	local why
	for _ = 1, 2 do
		local h = self.handle
		if h == nil then
			h, why = self:find()
		end
		if h then
			local res = table.pack(shoal.trycalltimeout(self.timeout, h, "lua", cmd, ...))
			if res[1] and not (res[2] == nil and res[3] == mgr.NOT_ACTIVE) then
				return table.unpack(res, 2, res.n)
			end
			why = res[1] and string.format("%s: %s", shoal.address(h), tostring(res[4]))
				or string.format("%s: %s", shoal.address(h), tostring(res[3]))
			if self.handle == h then
				self.handle = nil
			end
		end
	end
	return nil, mgr.NO_MANAGER, why
end

function client:pick(account)
	return self:request("pick", account)
end

function client:candidates()
	return self:request("candidates")
end

function client:capacity()
	return self:request("capacity")
end

local default
function mgr.pick(account)
	default = default or mgr.client()
	return default:pick(account)
end

-- Where this node can be probed: its harbor's host and port (config
-- `harbor`, else this node's entry in `cluster`), or 127.0.0.1 and port
-- 1 outside a cluster (a single-node test: the registry's probes are off
-- there). The service registers its lease life with it.
function mgr.node_address()
	local listen = shoal.config("harbor")
	if listen ~= "" then
		local host, port = listen:match("^(.*):(%d+)$")
		return host, tonumber(port)
	end
	local node = shoal.config("node")
	for n, host, port in shoal.config("cluster"):gmatch("(%d+)@([^,%s]+):(%d+)") do
		if tonumber(n) == node then
			return host, tonumber(port)
		end
	end
	return "127.0.0.1", 1
end

return mgr
