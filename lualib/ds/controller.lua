-- ds/controller.lua - the region's view of its dsagents (a first slice of
-- the dscontroller, docs/dsagent.md "The controller"): agents' load
-- reports, scoring, allocation through the chosen agent, tickets when no
-- DS is ready.
--
--   local controller = require "ds.controller"
--   local c = controller.new { lost_ms = n, ticket_timeout_ms = n, max_tickets = n }
--   c:report(agent, load)                   an agent's load report (ds/agent.lua's load())
--   c:allocate(fleet, match, caller [, ref]) -> {agent, id, fleet, port, pid} | {ticket = n} | nil, err
--                                           (ref: the caller's number for the request, echoed in the
--                                           ticket's message; lualib/ds/client.lua sets it)
--   c:cancel(ticket) -> true | nil, err
--   c.aliases: ds/alias.lua (allocate takes an alias or a fleet name)
--   c:set_alias(name, target), c:remove_alias(name) -> true | nil, err   (and sent to the agents)
--   c:activate(epoch)                       this controller took the lease (a standby's takeover)
--   c:lines() -> lines for the console (`ds`)
--
-- The agent is the atomic point: it hands a ready process out once
-- (ds/agent.lua's allocate runs one request at a time), so a DS is never
-- given twice however many controllers or callers ask. The controller only
-- picks which agent to ask. A ticket's holder gets one message, "lua"
-- ds_ready(ticket, result, ref) or ds_ticket_failed(ticket, error, ref).
-- ds_ready comes from the agent itself (the controller passes the holder
-- with its allocate): a controller that dies between the agent's answer
-- and its own send strands no DS.
local shoal = require "shoal"
local metrics = require "shoal.metrics"

-- Prometheus (docs/operations.md, "Metrics"): every allocation by its
-- outcome, and how long a caller waited for its DS (at once, or through a
-- ticket until it was served).
local allocations = metrics.counter("shoal_ds_allocations_total",
	"DS allocation requests at the dscontroller, by fleet and outcome (allocated, ticket, served, expired, refused).",
	{ "fleet", "result" })
local alloc_seconds = metrics.histogram("shoal_ds_allocation_seconds",
	"From an allocation request until its DS address was handed out (a ticket: until it was served).", { "fleet" },
	{ 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30 })

local controller = {}
local C = {}
C.__index = C

function controller.new(conf)
	return setmetatable({
		agents = {}, -- handle -> {load =, at =, ready = {fleet = n} (the report's, less what we took since)}
		tickets = {}, -- FIFO of {id, fleet, match, caller, deadline}
		by_id = {}, -- id -> ticket, while it waits
		by_ref = {}, -- "caller/ref" -> ticket, while it waits (a client's retried request gets the same ticket)
		next_ticket = 1,
		lost_ms = conf.lost_ms,
		ticket_timeout_ms = conf.ticket_timeout_ms,
		max_tickets = conf.max_tickets,
		aliases = require("ds.alias").new(),
		counts = { allocated = 0, tickets = 0, served = 0, expired = 0, cancelled = 0 },
		state = { epoch = 0, seq = 0 }, -- the aliases' version: (lease epoch, change) of the last change
		active_since = nil, -- set when a lease made it active: the agents' reports are still coming in
		epoch = 0,
	}, C)
end

local function newer(x, y) -- state x newer than y
	return x.epoch > y.epoch or (x.epoch == y.epoch and x.seq > y.seq)
end

-- The controller's state for the agents: each keeps the newest and sends
-- it back in its reports, so a standby that takes over rebuilds it.
function C:publish()
	local st = { epoch = self.state.epoch, seq = self.state.seq, aliases = self.aliases:list() }
	for h in pairs(self.agents) do
		shoal.send(h, "lua", "controller_state", st)
	end
end

function C:changed()
	if self.state.epoch ~= self.epoch then
		self.state = { epoch = self.epoch, seq = 0 }
	end
	self.state.seq = self.state.seq + 1
	self:publish()
end

function C:set_alias(name, target)
	local ok, err = self.aliases:set(name, target)
	if ok then
		self:changed()
	end
	return ok, err
end

function C:remove_alias(name)
	local ok, err = self.aliases:remove(name)
	if ok then
		self:changed()
	end
	return ok, err
end

function C:activate(epoch)
	self.epoch, self.active_since = epoch, shoal.now()
end

function C:report(agent, load)
	local a = self.agents[agent]
	if a == nil then
		shoal.log(string.format("dscontroller event=agent_joined agent=:%08x", agent))
		a = {}
		self.agents[agent] = a
	end
	a.load, a.at, a.ready = load, shoal.now(), {}
	for name, f in pairs(load.fleets or {}) do
		a.ready[name] = f.ready
	end
	local st = load.controller_state
	if type(st) ~= "table" or math.type(st.epoch) ~= "integer" or math.type(st.seq) ~= "integer" then
		st = nil
	end
	if st and newer(st, self.state) then
		self.aliases:restore(st.aliases or {})
		self.state = { epoch = st.epoch, seq = st.seq }
		local n = 0
		for _ in pairs(st.aliases or {}) do
			n = n + 1
		end
		shoal.log(string.format("dscontroller event=state_restored agent=:%08x epoch=%d seq=%d aliases=%d", agent,
			st.epoch, st.seq, n))
	elseif self.state.seq > 0 and (st == nil or newer(self.state, st)) then
		shoal.send(agent, "lua", "controller_state",
			{ epoch = self.state.epoch, seq = self.state.seq, aliases = self.aliases:list() })
	end
	if #self.tickets > 0 then
		shoal.fork(self.serve, self)
	end
end

-- Live agents that have a ready DS of fleet, best first: fewest live
-- processes per ready one, then the least CPU (a start-up penalty: an
-- agent with many starting processes scores worse).
function C:candidates(fleet)
	local now, list, known = shoal.now(), {}, false
	for h, a in pairs(self.agents) do
		local f = a.load.fleets and a.load.fleets[fleet]
		if f and now - a.at <= self.lost_ms and not a.load.draining then
			known = true
			local ready = a.ready[fleet] or 0
			if ready > 0 then
				local b = a.load.by_state
				local score = (b.starting * 2 + b.allocated + b.ready) / ready + (a.load.cpu_percent or 0) / 100
				list[#list + 1] = { h = h, a = a, score = score }
			end
		end
	end
	table.sort(list, function(x, y)
		return x.score < y.score
	end)
	return list, known
end

-- Tries the candidates in order; the first agent that hands one out wins.
-- t: the ticket served (its holder gets ds_ready from the agent).
function C:try(fleet, match, t)
	local list, known = self:candidates(fleet)
	local notify = t and { to = t.caller, ticket = t.id, ref = t.ref }
	for _, c in ipairs(list) do
		local ok, r = pcall(shoal.call, c.h, "lua", "allocate", fleet, match, notify)
		c.a.ready[fleet] = math.max((c.a.ready[fleet] or 1) - 1, 0)
		if ok and r then
			r.agent = c.h
			self.counts.allocated = self.counts.allocated + 1
			return r
		end
	end
	return nil, known
end

-- name: an alias (its fleet is picked by its split) or a fleet.
function C:allocate(name, match, caller, ref)
	if type(name) ~= "string" then
		return nil, "allocate: the alias or fleet must be a string"
	end
	if ref ~= nil and math.type(ref) ~= "integer" then
		return nil, "allocate: the request's ref must be an integer"
	end
	local rk = ref and (tostring(caller) .. "/" .. ref)
	local same = rk and self.by_ref[rk]
	if same and not same.cancelled then -- the same request again (its first call timed out at the caller)
		return { ticket = same.id, waiting = #self.tickets }
	end
	local fleet = self.aliases:pick(name) or name
	local t0 = shoal.now()
	-- a client request (ref): the agent sends the DS to the caller too, so it arrives even if this
	-- controller dies before its answer does
	local r, known = self:try(fleet, match, ref and { caller = caller, id = 0, ref = ref })
	if r then
		allocations:inc(1, fleet, "allocated")
		alloc_seconds:observe((shoal.now() - t0) / 1000, fleet)
		return r
	end
	-- Just after a takeover not every agent has reported yet: a name not
	-- known then waits as a ticket (resolved again when it is served).
	if not known and (self.active_since == nil or shoal.now() - self.active_since > self.lost_ms) then
		allocations:inc(1, fleet, "refused")
		return nil, string.format("no agent has fleet %s", fleet)
	end
	if #self.tickets >= self.max_tickets then
		allocations:inc(1, fleet, "refused")
		shoal.warn(string.format("dscontroller alert=capacity fleet=%s %d tickets waiting: refused", fleet,
			#self.tickets))
		return nil, string.format("fleet %s: no ready DS and %d tickets waiting already", fleet, #self.tickets)
	end
	allocations:inc(1, fleet, "ticket")
	local t = { id = self.next_ticket, name = name, fleet = fleet, match = match, caller = caller, ref = ref, asked = t0,
		deadline = shoal.now() + self.ticket_timeout_ms }
	self.next_ticket = t.id + 1
	self.tickets[#self.tickets + 1] = t
	self.by_id[t.id] = t
	if rk then
		t.rk = rk
		self.by_ref[rk] = t
	end
	self.counts.tickets = self.counts.tickets + 1
	if not self.timer then
		self.timer = true
		shoal.timeout(50, function()
			self:tick()
		end)
	end
	return { ticket = t.id, waiting = #self.tickets }
end

function C:tick()
	self:serve()
	if #self.tickets > 0 then
		shoal.timeout(50, function()
			self:tick()
		end)
	else
		self.timer = false
	end
end

local function known_any(self, fleet)
	for _, a in pairs(self.agents) do
		if a.load.fleets and a.load.fleets[fleet] then
			return true
		end
	end
	return false
end

-- Serves waiting tickets in order; expires those past their deadline.
function C:serve()
	if self.serving then
		return
	end
	self.serving = true
	local now, keep = shoal.now(), {}
	local tickets = self.tickets
	local dry = {} -- fleets that had no ready DS in this pass: their later tickets wait for the next one
	self.tickets = {} -- tickets taken while we call the agents go here
	for _, t in ipairs(tickets) do
		if t.rk and (t.cancelled or now > t.deadline) then
			self.by_ref[t.rk] = nil
		end
		if t.cancelled then
			self.by_id[t.id] = nil
		elseif now > t.deadline then
			self.by_id[t.id] = nil
			self.counts.expired = self.counts.expired + 1
			allocations:inc(1, t.fleet, "expired")
			shoal.warn(string.format("dscontroller alert=ticket_timeout ticket=%d fleet=%s", t.id, t.fleet))
			shoal.send(t.caller, "lua", "ds_ticket_failed", t.id,
				string.format("ticket %d: no DS of fleet %s became ready within %d ms", t.id, t.fleet,
					self.ticket_timeout_ms), t.ref)
		elseif dry[t.fleet] then
			keep[#keep + 1] = t
		else
			if not known_any(self, t.fleet) and self.aliases.map[t.name] then
				t.fleet = self.aliases:pick(t.name) -- an alias restored since (a takeover)
			end
			local r = self:try(t.fleet, t.match, t) -- the agent sends ds_ready to t.caller
			if not r then
				dry[t.fleet] = true
			end
			if r then
				self.by_id[t.id] = nil
				if t.rk then
					self.by_ref[t.rk] = nil
				end
				self.counts.served = self.counts.served + 1
				allocations:inc(1, t.fleet, "served")
				alloc_seconds:observe((shoal.now() - t.asked) / 1000, t.fleet)
			else
				keep[#keep + 1] = t
			end
		end
	end
	for _, t in ipairs(self.tickets) do
		keep[#keep + 1] = t
	end
	self.tickets = keep
	self.serving = false
end

-- A cancel that races with the ticket's serving (the agent already asked)
-- still gets ds_ready: the caller then owns that DS.
function C:cancel(id)
	local t = self.by_id[id]
	if t == nil or t.cancelled then
		return nil, string.format("no waiting ticket %s", tostring(id))
	end
	t.cancelled = true
	self.counts.cancelled = self.counts.cancelled + 1
	return true
end

-- The console's `fleet`: the fleets (build, pool, processes by state over
-- the live agents), the aliases, the agents.
function C:fleet_lines()
	local now, fleets, names = shoal.now(), {}, {}
	for _, a in pairs(self.agents) do
		if now - a.at <= self.lost_ms then
			for name, f in pairs(a.load.fleets or {}) do
				local t = fleets[name]
				if t == nil then
					t = { agents = 0, pool = 0, starting = 0, ready = 0, allocated = 0, ending = 0,
						build = f.build and (f.build .. "@" .. tostring(f.version)) or "-" }
					fleets[name] = t
					names[#names + 1] = name
				end
				t.agents = t.agents + 1
				for _, k in ipairs { "pool", "starting", "ready", "allocated", "ending" } do
					t[k] = t[k] + (f[k] or 0)
				end
				if f.crash_looping then
					t.crash = true
				end
			end
		end
	end
	table.sort(names)
	local lines = {}
	for _, name in ipairs(names) do
		local t = fleets[name]
		lines[#lines + 1] = string.format("fleet %s build=%s agents=%d pool=%d starting=%d ready=%d allocated=%d ending=%d%s",
			name, t.build, t.agents, t.pool, t.starting, t.ready, t.allocated, t.ending, t.crash and " CRASH-LOOPING" or "")
	end
	local al, an = self.aliases:list(), {}
	for k in pairs(al) do
		an[#an + 1] = k
	end
	table.sort(an)
	for _, k in ipairs(an) do
		lines[#lines + 1] = string.format("alias %s -> %s", k, al[k])
	end
	local agents = self:lines()
	for i = 2, #agents do
		lines[#lines + 1] = agents[i]
	end
	table.insert(lines, 1, agents[1])
	return lines, #names
end

-- The console's `alias NAME TARGET`: TARGET is FLEET or FLEET:PCT,FLEET2
-- (PCT % to FLEET, the rest to FLEET2).
function C:alias_text(name, text)
	if type(text) ~= "string" then
		return nil, "usage: alias NAME FLEET or alias NAME FLEET:PCT,FLEET2"
	end
	local f1, pct, f2 = text:match("^([^:,]+):(%d+),([^:,]+)$")
	if f1 then
		pct = math.tointeger(tonumber(pct))
		if pct > 100 then
			return nil, string.format("the percentage of %s must be 0..100, not %d", f1, pct)
		end
		return self:set_alias(name, { { f1, pct }, { f2, 100 - pct } })
	end
	if text:find("[:,]") then
		return nil, string.format("bad target %s: FLEET or FLEET:PCT,FLEET2", text)
	end
	return self:set_alias(name, text)
end

-- Sets fleet's warm pool to n on every live agent that has it: the lines
-- (one per agent) and how many took it; or nil, err.
function C:scale(fleet, n)
	local now, lines, done = shoal.now(), {}, 0
	for h, a in pairs(self.agents) do
		if now - a.at <= self.lost_ms and a.load.fleets and a.load.fleets[fleet] then
			local ok, r, err = pcall(shoal.call, h, "lua", "scale", fleet, n)
			if ok and r then
				done = done + 1
				lines[#lines + 1] = string.format("  agent :%08x: fleet %s pool=%d", h, fleet, n)
			else
				lines[#lines + 1] = string.format("  agent :%08x: %s", h, tostring(ok and err or r))
			end
		end
	end
	if #lines == 0 then
		return nil, "no agent has fleet " .. tostring(fleet)
	end
	table.sort(lines)
	return lines, done
end

-- Runs an agent command (build, add_fleet, remove_fleet) on every live
-- agent: true, n (all of them took it); or nil, the first error (prefixed
-- with the agent when some took it and some did not).
function C:broadcast(cmd, ...)
	local now, n, errs = shoal.now(), 0, {}
	for h, a in pairs(self.agents) do
		if now - a.at <= self.lost_ms then
			local ok, r, err = pcall(shoal.call, h, "lua", cmd, ...)
			if ok and r then
				n = n + 1
			else
				errs[#errs + 1] = { h = h, err = tostring(ok and err or r) }
			end
		end
	end
	if n == 0 and #errs == 0 then
		return nil, "no live agent"
	end
	if #errs > 0 then
		table.sort(errs, function(x, y)
			return x.h < y.h
		end)
		if n == 0 then
			return nil, errs[1].err
		end
		return nil, string.format("%d agents took it, agent :%08x: %s", n, errs[1].h, errs[1].err)
	end
	return true, n
end

-- The console's lines: one per agent.
function C:lines()
	local now, lines = shoal.now(), {}
	local hs = {}
	for h in pairs(self.agents) do
		hs[#hs + 1] = h
	end
	table.sort(hs)
	lines[1] = string.format("dscontroller :%08x: %d agents, %d tickets waiting, allocated=%d served=%d expired=%d",
		shoal.self(), #hs, #self.tickets, self.counts.allocated, self.counts.served, self.counts.expired)
	for _, h in ipairs(hs) do
		local a = self.agents[h]
		local b = a.load.by_state
		lines[#lines + 1] = string.format("  agent :%08x %s report_age_ms=%d starting=%d ready=%d allocated=%d ending=%d",
			h, now - a.at <= self.lost_ms and "live" or "LOST", now - a.at, b.starting, b.ready, b.allocated, b.ending)
	end
	return lines, #hs
end

return controller
