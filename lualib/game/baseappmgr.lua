-- game/baseappmgr.lua - reaching the active baseappmgr (docs/baseappmgr.md).
--
-- Two baseappmgr instances run; the one holding the registry lease
-- "baseappmgr" answers picks, the other is a standby that answers
-- NOT_ACTIVE. Callers find the active one through the lease (its holder's
-- status field `handle`) and never wait on a dead one past a timeout:
--
--   local mgr = require "game.baseappmgr"
--   local rec, code, why = mgr.pick(account)  -- the cluster's registry, call_timeout
--   -- rec: {id, node, host, port, epoch, mgr}; or nil, code, why with code one of
--   -- balance.NO_BASEAPP, balance.OVER_CAPACITY, mgr.NO_MANAGER
--   local c = mgr.client { registry = r_or_addr, timeout = ms }  -- a client of its own
--   c:pick(account)  c:candidates()  c:capacity()
--
-- A call goes to the cached active one. When it answers NOT_ACTIVE (it
-- is, or became, the standby) or cannot be reached (its node is lost, the
-- service is gone, no answer within `timeout`), the client looks the
-- holder up again and tries once more (shoal/lease.lua's client). So one
-- pick takes at most two calls of `timeout` and two lease look-ups of
-- `timeout`, and fails with NO_MANAGER while the lease is free or held by
-- a life the registry has not yet declared dead (the failure-detection
-- bound): the caller retries later or tells its client "retry after".
local shoal = require "shoal"
local lease = require "shoal.lease"

local mgr = {}

mgr.LEASE = "baseappmgr" -- the lease's name in the registry
mgr.NOT_ACTIVE = lease.NOT_ACTIVE -- the code of a standby's answer
mgr.NO_MANAGER = lease.NO_ACTIVE -- no active baseappmgr can be reached now

local client = {}
client.__index = client

function mgr.client(opts)
	return setmetatable({ lease = lease.client(mgr.LEASE, opts) }, client)
end

function client:pick(account)
	return self.lease:call("pick", account)
end

function client:candidates()
	return self.lease:call("candidates")
end

function client:capacity()
	return self.lease:call("capacity")
end

local default
function mgr.pick(account)
	default = default or mgr.client()
	return default:pick(account)
end

return mgr
