-- ds/client.lua - the one way game code allocates a dedicated server
-- (docs/fleet.md, "Allocating from game code").
--
--   local dsclient = require "ds.client"
--   local ds = dsclient.new { controller = ".dscontroller" | handle | "lease:NAME",
--   	timeout = ms, call_ms = ms, check_ms = ms }
--   -- the service's "lua" dispatch hands the tickets' messages over, once:
--   shoal.dispatch("lua", dsclient.dispatch(other_fn))  -- other_fn(session, source, cmd, ...) or nil
--   -- or, with dispatch_commands: dsclient.commands(command_table)
--   local r, err = ds:allocate("arena", match [, {timeout = ms}])  -- {agent, id, fleet, port, pid} | nil, err
--   ds:allocate_async("arena", match, opts, function(r, err) ... end)
--   ds:release(r)                              -- gives a DS back (its agent ends it)
--   dsclient.stats()                           -- {surplus, released, orphaned, reasked, cancelled}
--
-- allocate blocks the calling coroutine at most opts.timeout (default the
-- client's `timeout`: dscontroller_ticket_timeout_ms + 2000). A ticket is
-- waited for here: its ds_ready / ds_ticket_failed message (each request
-- carries a number of this service, `ref`, that the message echoes); when
-- the caller's bound passes the ticket is cancelled.
--
-- Takeovers: while tickets wait, one watcher per client checks every
-- check_ms the controller that gave them (lease mode: the registry's
-- holder of the lease; always: its `state`, which fails NODEDOWN/NOSERVICE
-- when it is gone or answers active=false on a standby). A controller that
-- is gone or no longer holds the lease orphans its tickets: each is asked
-- again of the active controller (a fresh allocation or ticket), within
-- the same bound. The agent itself sends each DS it hands out for a
-- request to the requester (ds_ready), so a DS served by a controller that
-- died before it answered still arrives; the request keeps the first DS it
-- gets and releases any other (dsagent's release: the process is ended).
local shoal = require "shoal"
local lease = require "shoal.lease"

local client = {}
local C = {}
C.__index = C

local MARGIN_MS = 2000 -- default timeout: the controller's ticket timeout plus this

local refs = {} -- ref -> attempt {ref, req, h (the controller asked), ticket, got (the key of a DS answered at once)}
local next_ref = 1
local counts = { surplus = 0, released = 0, release_failed = 0, orphaned = 0, reasked = 0, cancelled = 0 }

local function key(r)
	return tostring(r.agent) .. "/" .. tostring(r.id)
end

local function wake(req)
	if req.sleeping then
		req.sleeping = false
		shoal.wakeup(req.co)
	end
end

-- Waits until woken (a message, an orphaned ticket, a resolved holder) or
-- the request's deadline.
local function sleep_until_woken(req)
	local left = req.deadline - shoal.now()
	if left <= 0 then
		return
	end
	req.sleeping = true
	req.timer = (req.timer or 0) + 1
	local mine = req.timer
	shoal.timeout(left, function()
		if req.timer == mine then
			wake(req)
		end
	end)
	shoal.wait()
	req.sleeping = false
end

local function release(r, why)
	shoal.fork(function()
		local ok, done, err = shoal.trycalltimeout(5000, r.agent, "lua", "release", r.id)
		if ok and done then
			counts.released = counts.released + 1
			shoal.log(string.format("ds.client event=released agent=:%08x ds=%d (%s)", r.agent, r.id, why))
		else
			counts.release_failed = counts.release_failed + 1
			shoal.warn(string.format("ds.client: release of ds %s on agent %s failed: %s", tostring(r.id),
				tostring(r.agent), tostring(ok and err or err or done)))
		end
	end)
end

-- Cancels the request's other waiting tickets (it has its DS, or gave up).
local function cancel_others(req, winner)
	for _, at in ipairs(req.attempts) do
		if at ~= winner and at.ticket and not at.orphaned and not at.cancelled then
			at.cancelled = true
			counts.cancelled = counts.cancelled + 1
			local h, ticket = at.h, at.ticket
			shoal.fork(function()
				shoal.trycalltimeout(req.client.call_ms, h, "lua", "cancel", ticket)
			end)
		end
	end
end

-- A DS for attempt ref, from the agent that handed it out (ticket 0: a DS
-- the controller also answers at once).
local function on_ready(ticket, r, ref)
	if type(r) ~= "table" or r.agent == nil then
		return
	end
	local at = refs[ref]
	if at == nil then -- a request that ended: surplus
		counts.surplus = counts.surplus + 1
		return release(r, "no request waits for it")
	end
	local req, k = at.req, key(r)
	if at.got == k then -- the notice of a DS that the controller's answer brought already
		refs[ref] = nil
		return
	end
	if ticket == 0 then
		at.noticed = k
	else
		refs[ref] = nil
	end
	if req.done then
		counts.surplus = counts.surplus + 1
		return release(r, "its request has a DS already")
	end
	req.done, req.result = true, r
	local set = at.h and req.client.at[at.h]
	if set then
		set[ref] = nil
	end
	cancel_others(req, at)
	wake(req)
end

local function on_failed(_, err, ref)
	local at = refs[ref]
	if at == nil or at.orphaned then
		return
	end
	refs[ref] = nil
	local req = at.req
	local set = req.client.at[at.h]
	if set then
		set[ref] = nil
	end
	if not req.done and req.waiting == at then
		req.failed = tostring(err)
		wake(req)
	end
end

-- A "lua" message: true if it was a ticket message of this library.
function client.on_message(cmd, ticket, r, ref)
	if math.type(ref) ~= "integer" then
		return false
	end
	if cmd == "ds_ready" then
		on_ready(ticket, r, ref)
		return true
	elseif cmd == "ds_ticket_failed" then
		on_failed(ticket, r, ref)
		return true
	end
	return false
end

-- A "lua" dispatch function: the tickets' messages here, the rest to other.
function client.dispatch(other)
	return function(session, source, cmd, ...)
		if client.on_message(cmd, ...) then
			return
		end
		if other then
			return other(session, source, cmd, ...)
		end
	end
end

-- For a service with shoal.dispatch_commands(command): adds the two messages.
function client.commands(command)
	command.ds_ready = function(ticket, r, ref)
		client.on_message("ds_ready", ticket, r, ref)
	end
	command.ds_ticket_failed = function(ticket, err, ref)
		client.on_message("ds_ticket_failed", ticket, err, ref)
	end
	return command
end

function client.stats()
	local s = {}
	for k, v in pairs(counts) do
		s[k] = v
	end
	local n = 0
	for _ in pairs(refs) do
		n = n + 1
	end
	s.refs = n
	return s
end

function client.new(opts)
	opts = opts or {}
	local ctl = opts.controller or ".dscontroller"
	local self = setmetatable({
		timeout = opts.timeout or (shoal.config("dscontroller_ticket_timeout_ms") + MARGIN_MS),
		call_ms = opts.call_ms or 3000,
		check_ms = opts.check_ms or 250,
		at = {}, -- controller -> {ref -> attempt}: the tickets waiting there
		waiters = {}, -- requests waiting for a holder look-up
	}, C)
	local name = type(ctl) == "string" and ctl:match("^lease:(.+)$")
	if name then
		self.lc = lease.client(name, { registry = opts.registry, timeout = self.call_ms })
	elseif type(ctl) ~= "string" and math.type(ctl) ~= "integer" then
		error("ds.client: controller must be a service name, a handle or lease:NAME")
	else
		self.ctl = ctl
	end
	return self
end

-- The controller to ask (lease mode: the registry's holder, one look-up at
-- a time for all callers), or nil, why.
function C:holder(req, failed)
	if self.lc == nil then
		if type(self.ctl) == "string" and self.ctl:sub(1, 1) == "." then -- a local name: the service behind it now
			local h = shoal.localname(self.ctl)
			if h == nil then
				return nil, string.format("no service named %s", self.ctl)
			end
			return h
		end
		return self.ctl
	end
	local h = self.lc.handle
	if h and h ~= failed then
		return h
	end
	if self.resolving then
		self.waiters[#self.waiters + 1] = req
		sleep_until_woken(req)
		if self.lc.handle and self.lc.handle ~= failed then
			return self.lc.handle
		end
		return nil, self.resolve_why or "no active dscontroller"
	end
	self.resolving = true
	local why
	while true do
		local left = req.deadline - shoal.now()
		if left <= 0 then
			break
		end
		self.lc.timeout = math.max(1, math.min(self.call_ms, left)) -- the registry call's bound
		h, why = self.lc:find()
		if h and h ~= failed then
			break
		end
		h = nil
		if shoal.now() + 50 >= req.deadline then
			break
		end
		shoal.sleep(50)
	end
	if h == nil then
		self.lc.handle = nil
	end
	self.resolving, self.resolve_why = false, why
	local waiters = self.waiters
	self.waiters = {}
	for _, w in ipairs(waiters) do
		wake(w)
	end
	return h, why
end

-- One allocate call (retried on a standby's NOT_ACTIVE or a gone
-- controller until the deadline): h, reply, err.
function C:ask(req, name, match, ref)
	local failed, last
	while true do
		local h, why = self:holder(req, failed)
		local left = req.deadline - shoal.now()
		if h and left > 0 then
			local ok, r, err, why2 = shoal.trycalltimeout(math.min(self.call_ms, left), h, "lua", "allocate", name,
				match, ref)
			if ok then
				if not (r == nil and err == lease.NOT_ACTIVE) then
					return h, r, err
				end
				last = string.format("%s: %s", lease.NO_ACTIVE, tostring(why2))
				if self.lc and self.lc.handle == h then
					self.lc.handle = nil
				end
			else
				last = string.format("%s: dscontroller %s: %s", lease.NO_ACTIVE, tostring(h), tostring(err))
				if r == shoal.errors.NODEDOWN or r == shoal.errors.NOSERVICE then
					failed = h
					if self.lc and self.lc.handle == h then
						self.lc.handle = nil
					end
				end
			end
		elseif why then
			last = string.format("%s: %s", lease.NO_ACTIVE, why)
		end
		if req.done or shoal.now() + 50 >= req.deadline then
			return nil, nil, last or "no time left"
		end
		shoal.sleep(50)
	end
end

function C:watch(at)
	local set = self.at[at.h]
	if set == nil then
		set = {}
		self.at[at.h] = set
	end
	set[at.ref] = at
	if not self.watching then
		self.watching = true
		shoal.fork(self.watch_loop, self)
	end
end

function C:orphan(h, why)
	local set = self.at[h]
	self.at[h] = nil
	if set == nil then
		return
	end
	local n = 0
	for _, at in pairs(set) do
		if not at.req.done then
			at.orphaned = true
			n = n + 1
			wake(at.req)
		end
	end
	counts.orphaned = counts.orphaned + n
	shoal.warn(string.format("ds.client: dscontroller %s %s: %d tickets asked again",
		math.type(h) == "integer" and string.format(":%08x", h) or tostring(h), why, n))
end

function C:watch_loop()
	while true do
		shoal.sleep(self.check_ms)
		local hs = {}
		for h, set in pairs(self.at) do
			if next(set) then
				hs[#hs + 1] = h
			else
				self.at[h] = nil
			end
		end
		if #hs == 0 then
			break
		end
		local holder, known
		if self.lc then
			local ok, list = pcall(self.lc.r.leases, self.lc.r, self.lc.name, self.call_ms)
			if ok then
				local l = list[1]
				known, holder = true, l and l.holder and l.holder.status and l.holder.status.handle
			end
		end
		for _, h in ipairs(hs) do
			if known and holder ~= h then
				self:orphan(h, "no longer holds the lease")
			else
				local ok, st = shoal.trycalltimeout(self.call_ms, h, "lua", "state")
				if ok and type(st) == "table" and st.active == false then
					self:orphan(h, "is a standby now")
				elseif not ok and (st == shoal.errors.NODEDOWN or st == shoal.errors.NOSERVICE) then
					self:orphan(h, "is gone (" .. tostring(shoal.errname(st)) .. ")")
				end
			end
		end
	end
	self.watching = false
end

local function finish(req)
	for _, at in ipairs(req.attempts) do
		if at.ticket or at.got == nil or at.noticed then
			refs[at.ref] = nil -- a later DS for it is surplus (released)
		end
		local set = req.client.at[at.h]
		if set then
			set[at.ref] = nil
		end
	end
end

function C:allocate(name, match, opts)
	local timeout = opts and opts.timeout or self.timeout
	if type(name) ~= "string" then
		return nil, "ds.client allocate: the alias or fleet must be a string"
	end
	if math.type(timeout) ~= "integer" or timeout <= 0 then
		return nil, "ds.client allocate: the timeout must be a positive integer (ms)"
	end
	local req = { co = coroutine.running(), deadline = shoal.now() + timeout, attempts = {}, client = self }
	local err
	while not req.done and shoal.now() < req.deadline do
		local ref = next_ref
		next_ref = ref + 1
		local at = { ref = ref, req = req }
		req.attempts[#req.attempts + 1] = at
		refs[ref] = at
		if #req.attempts > 1 then
			counts.reasked = counts.reasked + 1
		end
		local h, r, e = self:ask(req, name, match, ref)
		at.h = h
		if r and r.ticket then
			at.ticket = r.ticket
			if req.done then -- a DS came meanwhile (a late one of an earlier attempt)
				cancel_others(req, nil)
			else
				req.waiting = at
				self:watch(at)
				while not (req.done or req.failed or at.orphaned) and shoal.now() < req.deadline do
					sleep_until_woken(req)
				end
				if req.failed then
					err = req.failed
					break
				end
				if not req.done and not at.orphaned then -- the caller's bound: give up
					cancel_others(req, nil)
					err = string.format("ds.client: no DS of %s within %d ms (ticket %d waiting)", name, timeout,
						at.ticket)
				end
			end
		elseif r then
			at.got = key(r)
			if req.done then
				if key(req.result) ~= at.got and at.noticed ~= at.got then
					counts.surplus = counts.surplus + 1
					release(r, "its request has a DS already")
				end
			else
				req.done, req.result = true, r
				cancel_others(req, at)
			end
		else
			err = e -- the controller's refusal, or no controller until the deadline
			break
		end
	end
	req.done = true
	finish(req)
	if req.result then
		return req.result
	end
	return nil, err or string.format("ds.client: no DS of %s within %d ms", name, timeout)
end

function C:allocate_async(name, match, opts, cb)
	shoal.fork(function()
		cb(self:allocate(name, match, opts))
	end)
end

-- Gives DS r (an allocate's answer) back: its agent ends it.
function C:release(r)
	if type(r) ~= "table" or r.agent == nil or math.type(r.id) ~= "integer" then
		return nil, "ds.client release: not an allocated DS"
	end
	local ok, done, err = shoal.trycalltimeout(self.call_ms, r.agent, "lua", "release", r.id)
	if not ok then
		return nil, string.format("release ds %d: agent :%08x: %s", r.id, r.agent, tostring(err))
	end
	return done, err
end

return client
