-- ds/agent.lua - the dedicated-server processes of one machine
-- (docs/dsagent.md): the process table, each DS's state machine, the
-- watchdog, restarts with backoff, the warm pools and the load report.
--
--   local agent = require "ds.agent"
--   local a = agent.new { fleets = list, keeper = path, logdir = dir, check_ms = n, history = n }
--   a:allocate(fleet, match) -> {id, fleet, port, pid} | nil, err
--   a:load()  -> the load report     a:lines(fleet) -> console lines | nil, err
--   a:reset(fleet) -> true | nil, err (a crash-looping fleet starts again)
--   a:drain(deadline_ms) -> true | nil, err    a:undrain()   (host maintenance)
--
-- A process: starting -> ready -> allocated -> ending -> reaped (any live
-- state -> ending on a reap, a crash or SHUTDOWN). Each DS runs under its
-- own keeper (ds/dskeep.c); the keeper's control socket reports the DS's
-- pid and exit, and its EOF means the whole tree is gone (state reaped).
local shoal = require "shoal"
local socket = require "shoal.socket"
local proc = require "shoal.proc"

local agent = {}
local Agent = {}
Agent.__index = Agent

local MAX_LINE = 1024 -- a line from a DS, with its "\n" (docs/ds-protocol.md)
local MAX_MATCH = 65536 -- ALLOCATED's match data
local LIVE = { starting = true, ready = true, allocated = true, ending = true }
local SIGNAMES = { [1] = "SIGHUP", [2] = "SIGINT", [3] = "SIGQUIT", [4] = "SIGILL", [6] = "SIGABRT", [7] = "SIGBUS",
	[8] = "SIGFPE", [9] = "SIGKILL", [11] = "SIGSEGV", [13] = "SIGPIPE", [15] = "SIGTERM" }

local function printable(s)
	s = s:gsub("[%c\128-\255]", "?")
	return #s > 60 and s:sub(1, 60) .. "..." or s
end

function agent.new(conf)
	local a = setmetatable({
		fleets = {}, -- name -> fleet (ds/fleet.lua) with its counters
		order = {}, -- fleet names in definition order
		procs = {}, -- id -> process (live ones)
		history = {}, -- ended processes, newest last
		next_id = 1,
		keeper = conf.keeper,
		logdir = conf.logdir,
		check_ms = conf.check_ms or 100,
		alert_out = conf.alert_out, -- ds/alert.lua: the alert command and webhook
		on_ready = conf.on_ready, -- called after a DS became ready (the service sends a report at once)
		max_history = conf.history or 64,
		max_starting = conf.max_starting or 16, -- DSs starting (not READY yet) at once on this machine
		starting = 0,
		start_blocked = {}, -- fleets whose refill waits for a start to end
		alerts = {}, -- recent alert lines, newest last
		ready_samples = {}, -- the last 256 start-to-READY times, ms
		counts = { started = 0, ready = 0, allocated = 0, reaped = 0, crashed = 0, failed = 0 },
	}, Agent)
	for _, f in ipairs(conf.fleets) do
		a:add(f)
	end
	return a
end

function Agent:add(f)
	f.ports_used, f.failures, f.backoff_n, f.next_start = {}, {}, 0, 0
	f.n = { starting = 0, ready = 0, allocated = 0, ending = 0 }
	f.ready_q = { head = 1, tail = 1 } -- ready processes, oldest first
	self.fleets[f.name] = f
	self.order[#self.order + 1] = f.name
end

-- A fleet added at run time (ds/fleet.lua's check done): its pool starts.
function Agent:add_fleet(f)
	if self.fleets[f.name] then
		return nil, string.format("fleet %s: defined already", f.name)
	end
	self:add(f)
	shoal.log(string.format("dsagent event=fleet_added fleet=%s build=%s", f.name, f.build))
	self:refill(f)
	return true
end

-- Removes a fleet none of whose processes is in a match (an upgrade's old
-- fleet once its matches ended): its ready and starting ones are retired.
function Agent:remove_fleet(name)
	local f = self.fleets[name]
	if f == nil then
		return nil, "no fleet " .. tostring(name)
	end
	if f.n.allocated > 0 then
		return nil, string.format("fleet %s has %d processes in a match (remove it once they ended)", name,
			f.n.allocated)
	end
	f.removed = true
	for _, p in pairs(self.procs) do
		if p.f == f and (p.state == "ready" or p.state == "starting") then
			self:reap(p, "retired: the fleet is removed", false)
		end
	end
	self.fleets[name] = nil
	for i, n in ipairs(self.order) do
		if n == name then
			table.remove(self.order, i)
			break
		end
	end
	shoal.log(string.format("dsagent event=fleet_removed fleet=%s", name))
	return true
end

-- An alert: a structured warning line (docs/dsagent.md, "Alerts"), kept for the console.
function Agent:alert(event, fmt, ...)
	local line = string.format("dsagent alert=%s " .. fmt, event, ...)
	shoal.warn(line)
	if self.alert_out then
		self.alert_out:send(event, line)
	end
	local al = self.alerts
	al[#al + 1] = line
	if #al > self.max_history then
		table.remove(al, 1)
	end
end

local function take_port(f)
	for port = f.first_port, f.last_port do
		if not f.ports_used[port] then
			f.ports_used[port] = true
			return port
		end
	end
end

-- Live processes of fleet f in state (nil: all live ones); O(1).
function Agent:count(f, state)
	if state then
		return f.n[state] or 0
	end
	return f.n.starting + f.n.ready + f.n.allocated + f.n.ending
end

-- Every state change goes through here: the per-fleet counts and the
-- ready FIFO (entries of processes no longer ready are skipped when met).
local function set_state(p, state)
	if p.state == "starting" and state ~= "starting" then
		p.owner:start_ended()
	end
	local n = p.f.n
	if p.state and n[p.state] then
		n[p.state] = n[p.state] - 1
	end
	p.state = state
	if n[state] then
		n[state] = n[state] + 1
	end
	if state == "ready" then
		local q = p.f.ready_q
		q[q.tail] = p
		q.tail = q.tail + 1
	end
end

-- Starts one DS of fleet f; returns the process or nil, err.
function Agent:start(f)
	local port = take_port(f)
	if not port then
		if not f.exhausted then
			f.exhausted = true
			self:alert("capacity", "fleet=%s port range %d-%d exhausted: every port is held by a live process",
				f.name, f.first_port, f.last_port)
		end
		return nil, string.format("fleet %s: port range %d-%d exhausted", f.name, f.first_port, f.last_port)
	end
	f.exhausted = false
	local id = self.next_id
	self.next_id = id + 1
	local log = string.format("%s/%s-%d.log", self.logdir, f.name, id)
	local argv = { "shoal-dskeep", "-l", log, "-m", tostring(f.log_max_kb * 1024), "-k", tostring(f.log_keep), "-g",
		tostring(f.grace_ms), "-p", tostring(proc.pid()) }
	if f.cwd then
		argv[#argv + 1] = "-C"
		argv[#argv + 1] = f.cwd
	end
	argv[#argv + 1] = "--"
	argv[#argv + 1] = f.build
	for _, a in ipairs(f.args) do
		argv[#argv + 1] = (a:gsub("{port}", tostring(port)):gsub("{id}", tostring(id)))
	end
	local env = { "SHOAL_DS_PORT=" .. port, "SHOAL_DS_ID=" .. id, "SHOAL_DS_FLEET=" .. f.name,
		"PATH=" .. (os.getenv("PATH") or "/usr/bin:/bin") }
	for _, e in ipairs(f.env) do
		env[#env + 1] = e
	end
	local ok, pid, ctl, sock = pcall(proc.spawn, self.keeper, argv, env)
	if not ok then -- a bad argument (the fleet's checks should have caught it)
		pid, ctl = nil, pid
	end
	if not pid then
		f.ports_used[port] = nil
		self:alert("start", "fleet=%s cannot start the keeper %s: %s", f.name, self.keeper, ctl)
		return nil, ctl
	end
	local now = shoal.now()
	local p = { id = id, f = f, fleet = f.name, port = port, pid = pid, ctl = ctl, sock = sock,
		started = now, t0 = shoal.hpc(), last_health = now, log = log, buf = "", owner = self }
	set_state(p, "starting")
	self.starting = self.starting + 1
	self.procs[id] = p
	self.counts.started = self.counts.started + 1
	shoal.log(string.format("dsagent event=start ds=%d fleet=%s keeper=%d port=%d", id, f.name, pid, port))
	socket.start(ctl)
	socket.start(sock)
	shoal.fork(self.read_ctl, self, p)
	shoal.fork(self.read_ds, self, p)
	return p
end

-- A start ended (READY, or the process is gone): the fleets that waited
-- for a free start slot refill (after this state change is done).
function Agent:start_ended()
	self.starting = self.starting - 1
	if next(self.start_blocked) then
		local blocked = self.start_blocked
		self.start_blocked = {}
		shoal.fork(function()
			for f in pairs(blocked) do
				self:refill(f)
			end
		end)
	end
end

-- The delay before the next start after n failures in a row.
local function backoff(f, n)
	if n <= 0 then
		return 0
	end
	return math.min(f.backoff_ms * (1 << math.min(n - 1, 30)), f.backoff_max_ms)
end

-- Counts a failure of fleet f: backoff, and the crash-loop verdict.
function Agent:failure(f)
	local now = shoal.now()
	self.counts.failed = self.counts.failed + 1
	f.backoff_n = f.backoff_n + 1
	f.next_start = now + backoff(f, f.backoff_n)
	local fl = f.failures
	fl[#fl + 1] = now
	while fl[1] and now - fl[1] > f.crash_window_ms do
		table.remove(fl, 1)
	end
	if #fl >= f.crash_count and not f.crash_looping then
		f.crash_looping = true
		self:alert("crash_loop", "fleet=%s %d failures within %d ms: crash-looping, no more starts", f.name, #fl,
			f.crash_window_ms)
	end
end

-- The UTC hour of now, for the peak hours (os.time: the wall clock).
local function utc_hour()
	return os.date("!*t").hour
end

-- Fleet f's warm target (starting + ready): its pool (the peak's in the
-- peak hours), at least buffer_percent of its allocated processes, at
-- least what keeps min processes live.
function agent.target(f, _, hour)
	local pool = f.pool
	local pk = f.peak
	if pk then
		hour = hour or utc_hour()
		local inside
		if pk.from < pk.to then
			inside = hour >= pk.from and hour < pk.to
		else -- across midnight
			inside = hour >= pk.from or hour < pk.to
		end
		if inside then
			pool = pk.pool
		end
	end
	local alloc = f.n.allocated
	local t = math.max(pool, (alloc * f.buffer_percent + 99) // 100, f.min - alloc - f.n.ending)
	return math.min(t, f.max)
end

-- Retires ready processes of f idle longer than retire_idle_ms while the
-- warm count is above the target (the newest first: the oldest are allocated first).
function Agent:retire_surplus(f, now)
	local surplus = self:count(f, "starting") + self:count(f, "ready") - agent.target(f, now)
	if surplus <= 0 or self.draining then
		return
	end
	local q = f.ready_q
	for i = q.tail - 1, q.head, -1 do
		local p = q[i]
		if surplus <= 0 then
			break
		end
		if p and p.state == "ready" and now - p.ready_at >= f.retire_idle_ms then
			self:reap(p, "retired: surplus above the warm target", false)
			surplus = surplus - 1
		end
	end
end

-- Keeps fleet f's warm pool: starting + ready = the target, live <= max.
function Agent:refill(f)
	if f.crash_looping or self.draining or f.removed then
		return
	end
	local now = shoal.now()
	if now < f.next_start then
		if not f.refill_armed then
			f.refill_armed = true
			shoal.timeout(f.next_start - now, function()
				f.refill_armed = false
				self:refill(f)
			end)
		end
		return
	end
	local warm = self:count(f, "starting") + self:count(f, "ready")
	local live = self:count(f)
	local target = agent.target(f, now)
	while warm < target and live < f.max do
		if self.starting >= self.max_starting then -- dsagent_max_starting: the rest when a start ends
			self.start_blocked[f] = true
			return
		end
		if not self:start(f) then
			return
		end
		warm, live = warm + 1, live + 1
		if f.backoff_n > 0 then -- after a failure: one start per backoff delay
			f.next_start = now + backoff(f, f.backoff_n)
			return self:refill(f)
		end
	end
end

-- Ends process p: SIGTERM to its keeper (which sends it to the DS's group
-- and every descendant, SIGKILL after the grace). failed: counts for the
-- fleet's backoff and crash loop.
function Agent:reap(p, why, failed, quiet)
	if not LIVE[p.state] or p.state == "ending" and p.termed then
		return
	end
	p.reason = p.reason or why
	set_state(p, "ending")
	p.termed = true
	p.end_by = shoal.now() + p.f.grace_ms + 2000
	if not quiet then -- quiet: a release (no fault, no alert)
		self:alert("reap", "ds=%d fleet=%s pid=%s reason=%q", p.id, p.fleet, tostring(p.dspid), why)
	end
	socket.write(p.sock, "SHUTDOWN\n")
	proc.kill(p.pid, "TERM")
	if failed then
		self:failure(p.f)
	end
end

-- The keeper's lines: PID n, EXIT n, SIGNAL n; its EOF: the tree is gone.
function Agent:read_ctl(p)
	local buf = ""
	while true do
		local data = socket.read(p.ctl)
		if not data then
			break
		end
		buf = buf .. data
		while true do
			local line, rest = buf:match("^([^\n]*)\n(.*)$")
			if not line then
				break
			end
			buf = rest
			local what, n = line:match("^(%u+) (%d+)$")
			n = tonumber(n)
			if what == "PID" then
				p.dspid = n
			elseif what == "EXIT" or what == "SIGNAL" then
				self:ds_exited(p, what == "EXIT" and ("exit " .. n) or ("signal " .. n .. " " .. (SIGNAMES[n] or "")),
					what == "EXIT" and n == 0)
			end
		end
		if #buf > 4096 then
			break
		end
	end
	socket.close(p.ctl)
	self:gone(p)
end

-- The DS's main process ended (the keeper goes on with its leftovers).
function Agent:ds_exited(p, how, clean)
	p.exit = how
	local was = p.state
	if was == "ending" then
		return
	end
	set_state(p, "ending")
	p.end_by = shoal.now() + p.f.grace_ms + 2000
	if was == "allocated" and clean then
		p.reason = "match over"
		return
	end
	p.reason = "crashed: " .. how
	self.counts.crashed = self.counts.crashed + 1
	self:alert("crash", "ds=%d fleet=%s state=%s %s", p.id, p.fleet, was, how)
	self:failure(p.f)
end

-- The keeper exited: nothing of this DS is left. Reaps the keeper itself.
function Agent:gone(p)
	if p.state == "reaped" then
		return
	end
	local prev = p.state
	set_state(p, "reaped")
	if prev ~= "ending" then -- the keeper died unasked (killed from outside)
		p.reason = p.reason or "the keeper ended"
		self:failure(p.f)
	end
	socket.close(p.sock)
	self.procs[p.id] = nil
	p.f.ports_used[p.port] = nil
	self.counts.reaped = self.counts.reaped + 1
	local function wait_keeper(tries)
		local how = proc.reap(p.pid)
		if how == nil and tries > 0 then
			shoal.timeout(10, function()
				wait_keeper(tries - 1)
			end)
		elseif how == nil then
			proc.kill(p.pid, "KILL")
			shoal.timeout(100, function()
				proc.reap(p.pid)
			end)
		end
	end
	wait_keeper(200)
	local h = self.history
	h[#h + 1] = { id = p.id, fleet = p.fleet, reason = p.reason or "?", exit = p.exit, ended = shoal.now(),
		lived_ms = shoal.now() - p.started }
	if #h > self.max_history then
		table.remove(h, 1)
	end
	shoal.log(string.format("dsagent event=reaped ds=%d fleet=%s exit=%q reason=%q lived_ms=%d", p.id, p.fleet,
		p.exit or "?", p.reason or "?", shoal.now() - p.started))
	self:refill(p.f)
	self:check_drained()
end

-- One line from the DS.
function Agent:on_line(p, line)
	local now = shoal.now()
	if line == "HEALTH" then
		p.last_health = now
	elseif line == "READY" then
		p.last_health = now
		if p.state == "starting" then
			set_state(p, "ready")
			p.ready_at = now
			p.f.backoff_n = 0
			self.counts.ready = self.counts.ready + 1
			if self.on_ready then
				self.on_ready()
			end
			self.ready_n = (self.ready_n or 0) + 1
			self.ready_samples[(self.ready_n - 1) % 256 + 1] = (shoal.hpc() - p.t0) / 1e6
			shoal.log(string.format("dsagent event=ready ds=%d fleet=%s port=%d ready_ms=%d", p.id, p.fleet, p.port,
				now - p.started))
		end
	elseif line == "SHUTDOWN" then
		if p.state ~= "ending" then
			p.reason = p.state == "allocated" and "match over" or "SHUTDOWN before a match"
			set_state(p, "ending")
			p.end_by = now + p.f.match_grace_ms
		end
	else
		return false
	end
	return true
end

-- The DS's socket: lines of at most MAX_LINE bytes; garbage gets it reaped.
function Agent:read_ds(p)
	local buf = ""
	while LIVE[p.state] do
		local data = socket.read(p.sock)
		if not data then
			return
		end
		buf = buf .. data
		while true do
			local i = buf:find("\n", 1, true)
			if not i then
				break
			end
			local line = buf:sub(1, i - 1)
			buf = buf:sub(i + 1)
			if #line >= MAX_LINE or not self:on_line(p, line) then
				return self:reap(p, "protocol error: " .. printable(line), true)
			end
		end
		if #buf >= MAX_LINE then
			return self:reap(p, string.format("protocol error: a line over %d bytes", MAX_LINE), true)
		end
	end
end

-- The watchdog, every check_ms: readiness, health, CPU, RSS, match length, ending.
function Agent:check()
	local now = shoal.now()
	for _, p in pairs(self.procs) do
		local f = p.f
		if p.state == "starting" and now - p.started > f.ready_timeout_ms then
			self:reap(p, string.format("not ready within %d ms", f.ready_timeout_ms), true)
		elseif (p.state == "ready" or p.state == "allocated") and now - p.last_health > f.health_timeout_ms then
			self:reap(p, string.format("hung: no HEALTH for %d ms", now - p.last_health), true)
		elseif p.state == "allocated" and self.drain_by and now >= self.drain_by then
			self:reap(p, "the drain's deadline", false)
		elseif p.state == "allocated" and f.max_match_ms > 0 and now - p.allocated_at > f.max_match_ms then
			self:reap(p, string.format("match longer than %d ms", f.max_match_ms), false)
		elseif p.state == "ending" and now > (p.end_by or now) then
			if not p.termed then
				self:reap(p, p.reason or "did not exit", false)
			else -- the keeper itself did not end: kill it and the DS group
				proc.kill(p.pid, "KILL")
				if p.dspid then
					proc.kill(-p.dspid, "KILL")
				end
				p.end_by = now + 1000
			end
		end
		if p.state ~= "ending" and p.dspid then
			local cpu, rss = proc.stat(p.dspid)
			if cpu then
				p.rss = rss
				if p.cpu_t and now > p.cpu_t then
					p.cpu_pct = (cpu - p.cpu_ms) * 100 // (now - p.cpu_t)
				end
				p.cpu_ms, p.cpu_t = cpu, now
				if f.cpu_percent > 0 and (p.cpu_pct or 0) > f.cpu_percent then
					p.cpu_over = p.cpu_over or now
					if now - p.cpu_over >= f.cpu_ms then
						self:reap(p, string.format("CPU %d%% above %d%% for %d ms", p.cpu_pct, f.cpu_percent,
							now - p.cpu_over), true)
					end
				else
					p.cpu_over = nil
				end
				if f.rss_mb > 0 and rss > f.rss_mb << 20 and p.state ~= "ending" then
					self:reap(p, string.format("RSS %d MB above the limit of %d MB", rss >> 20, f.rss_mb), true)
				end
			end
		end
	end
end

function Agent:run()
	for _, name in ipairs(self.order) do
		self:refill(self.fleets[name])
	end
	local function tick()
		local ok, err = pcall(self.check, self)
		for _, name in ipairs(self.order) do -- the target moves with the hour and the allocations
			local f = self.fleets[name]
			self:refill(f)
			self:retire_surplus(f, shoal.now())
		end
		if not ok then
			shoal.error("dsagent: watchdog: " .. tostring(err))
		end
		shoal.timeout(self.check_ms, tick)
	end
	shoal.timeout(self.check_ms, tick)
end

-- Hands the oldest ready DS of fleet name a match (O(1)); every match gets a fresh process.
-- notify {to, ticket, ref} (a controller serving a ticket): the DS is also
-- sent to the ticket's holder at once, "lua" ds_ready(ticket, result, ref),
-- so a controller that dies before its answer arrives strands no DS.
function Agent:allocate(name, match, notify)
	local f = self.fleets[name]
	if f == nil then
		return nil, string.format("no fleet %s (fleets: %s)", tostring(name), table.concat(self.order, ", "))
	end
	if self.draining then
		return nil, "this agent is draining (no new allocations)"
	end
	match = match or ""
	if type(match) ~= "string" or #match > MAX_MATCH then
		return nil, string.format("match data must be a string of at most %d bytes", MAX_MATCH)
	end
	if notify ~= nil and (type(notify) ~= "table" or math.type(notify.to) ~= "integer"
			or math.type(notify.ticket) ~= "integer") then
		return nil, "allocate: notify must be {to = handle, ticket = n [, ref = n]}"
	end
	local q, best = f.ready_q, nil
	while q.head < q.tail do
		local p = q[q.head]
		q[q.head] = nil
		q.head = q.head + 1
		if p.state == "ready" then
			best = p
			break
		end
	end
	if best == nil then
		self:alert("capacity", "fleet=%s no ready DS (%d starting)%s", name, self:count(f, "starting"),
			f.crash_looping and " crash-looping" or "")
		return nil, string.format("fleet %s: no ready DS (%d starting)", name, self:count(f, "starting"))
	end
	local p = best
	set_state(p, "allocated")
	p.allocated_at = shoal.now()
	self.counts.allocated = self.counts.allocated + 1
	socket.write(p.sock, string.format("ALLOCATED %d\n", #match) .. match)
	shoal.log(string.format("dsagent event=allocated ds=%d fleet=%s port=%d", p.id, name, p.port))
	self:refill(f)
	local r = { id = p.id, fleet = name, port = p.port, pid = p.dspid }
	if notify then
		shoal.send(notify.to, "lua", "ds_ready", notify.ticket,
			{ agent = shoal.self(), id = p.id, fleet = name, port = p.port, pid = p.dspid }, notify.ref)
	end
	return r
end

-- Gives an allocated DS back (a caller that got two for one request, or
-- no longer wants it): it is ended like a match over (SHUTDOWN, then
-- TERM to its group), not counted as a failure; its slot is refilled.
function Agent:release(id)
	local p = math.type(id) == "integer" and self.procs[id]
	if not p then
		return nil, string.format("release: no live DS %s", tostring(id))
	end
	if p.state ~= "allocated" then
		return nil, string.format("release: DS %d is %s, not allocated", id, p.state)
	end
	shoal.log(string.format("dsagent event=released ds=%d fleet=%s", p.id, p.fleet))
	self:reap(p, "released by its caller", false, true)
	return true
end

-- Host maintenance: no new allocation or start, ready and starting
-- processes retired now, allocated ones reaped at the deadline (ms from
-- now) unless their match ends first; then the agent is drained.
function Agent:drain(deadline_ms)
	if math.type(deadline_ms) ~= "integer" or deadline_ms < 0 then
		return nil, "drain: the deadline must be an integer >= 0 (ms)"
	end
	if not self.draining then
		self.draining = true
		self.drain_by = shoal.now() + deadline_ms
		shoal.log(string.format("dsagent event=draining deadline_ms=%d", deadline_ms))
	end
	for _, p in pairs(self.procs) do
		if p.state == "ready" or p.state == "starting" then
			self:reap(p, "retired: the agent drains", false)
		end
	end
	self:check_drained()
	return true
end

function Agent:check_drained()
	if self.draining and not self.drained and next(self.procs) == nil then
		self.drained = true
		shoal.log("dsagent event=drained")
	end
end

-- Serves again after a drain.
function Agent:undrain()
	self.draining, self.drained, self.drain_by = false, false, nil
	for _, name in ipairs(self.order) do
		self:refill(self.fleets[name])
	end
	return true
end

-- A crash-looping fleet starts again (its failure record cleared).
function Agent:reset(name)
	local f = self.fleets[name]
	if f == nil then
		return nil, "no fleet " .. tostring(name)
	end
	f.crash_looping, f.failures, f.backoff_n, f.next_start = false, {}, 0, 0
	self:refill(f)
	return true
end

-- The load report: processes by state, CPU and memory of the DS processes, fleet health.
function Agent:load()
	local by_state = { starting = 0, ready = 0, allocated = 0, ending = 0 }
	local cpu, rss = 0, 0
	local fleets, healthy = {}, true
	for _, name in ipairs(self.order) do
		local f = self.fleets[name]
		healthy = healthy and not f.crash_looping
		fleets[name] = { starting = 0, ready = 0, allocated = 0, ending = 0, pool = f.pool, max = f.max,
			crash_looping = f.crash_looping or false, failures = #f.failures, build = f.build_name,
			version = f.build_version }
	end
	for _, p in pairs(self.procs) do
		by_state[p.state] = by_state[p.state] + 1
		local fs = fleets[p.fleet]
		fs[p.state] = fs[p.state] + 1
		cpu = cpu + (p.cpu_pct or 0)
		rss = rss + (p.rss or 0)
	end
	local rs = {}
	for i, v in ipairs(self.ready_samples) do
		rs[i] = v
	end
	table.sort(rs)
	return { time = shoal.now(), ready_ms_p50 = rs[(#rs + 1) // 2] or 0, by_state = by_state, cpu_percent = cpu, rss_bytes = rss, fleets = fleets,
		counts = self.counts, healthy = healthy, alerts = #self.alerts, draining = self.draining or false,
		drained = self.drained or false }
end

-- Sets fleet name's warm pool to n (0..its max); the next refill or
-- retire moves the pool there.
function Agent:scale(name, n)
	local f = self.fleets[name]
	if f == nil then
		return nil, "no fleet " .. tostring(name)
	end
	if math.type(n) ~= "integer" or n < 0 or n > f.max then
		return nil, string.format("fleet %s: the pool must be an integer 0..%d (its max), not %s", name, f.max,
			tostring(n))
	end
	f.pool = n
	shoal.log(string.format("dsagent event=scale fleet=%s pool=%d", name, n))
	self:refill(f)
	return true
end

-- The console's `ds [FLEET]` lines.
function Agent:lines(name)
	if name and self.fleets[name] == nil then
		return { string.format("dsagent :%08x: no fleet %s (fleets: %s)", shoal.self(), name,
			#self.order > 0 and table.concat(self.order, ", ") or "none") }, 0
	end
	local l = self:load()
	local lines = { string.format("dsagent :%08x: starting=%d ready=%d allocated=%d ending=%d cpu=%d%% rss=%dMB",
		shoal.self(), l.by_state.starting, l.by_state.ready, l.by_state.allocated, l.by_state.ending, l.cpu_percent,
		l.rss_bytes >> 20) }
	local n = 0
	for _, fname in ipairs(self.order) do
		if name == nil or name == fname then
			local s = l.fleets[fname]
			lines[#lines + 1] = string.format("  fleet %s pool=%d max=%d starting=%d ready=%d allocated=%d ending=%d%s",
				fname, s.pool, s.max, s.starting, s.ready, s.allocated, s.ending, s.crash_looping and " CRASH-LOOPING" or "")
			local ids = {}
			for id, p in pairs(self.procs) do
				if p.fleet == fname then
					ids[#ids + 1] = id
				end
			end
			table.sort(ids)
			for _, id in ipairs(ids) do
				local p = self.procs[id]
				lines[#lines + 1] = string.format("    ds %d %s pid=%s port=%d cpu=%d%% rss=%dMB age_ms=%d", id, p.state,
					tostring(p.dspid), p.port, p.cpu_pct or 0, (p.rss or 0) >> 20, shoal.now() - p.started)
				n = n + 1
			end
		end
	end
	return lines, n
end

return agent
