-- dsagent: the dedicated-server processes of this machine (lualib/ds/agent.lua,
-- docs/dsagent.md). Config: dsagent_* (the fleets file, the keeper, bounds).
--
-- Commands ("lua"):
--   allocate(fleet [, match [, notify]]) -> {id, fleet, port, pid} | nil, err   a ready DS gets the match;
--                                notify {to, ticket, ref}: also sent to `to` as "lua" ds_ready(ticket, r, ref)
--   release(id)               -> true | nil, err   an allocated DS given back: ended (SHUTDOWN, TERM)
--   load()                    -> the load report (docs/dsagent.md, "Load reports")
--   reset(fleet)              -> true | nil, err   a crash-looping fleet starts again
--   drain(deadline_ms)        -> true | nil, err   no new allocation; ready ones retired, allocated ones
--                                                  reaped at the deadline; then "dsagent event=drained"
--   undrain()                 -> true               serves again
--   alerts()                  -> {line, ...}        the recent alerts, newest last (the dashboard)
--   scale(fleet, n)           -> true | nil, err   the fleet's warm pool is n (0..max)
--   build(def)                -> true | nil, err   registers a build {name, version, path} (ds/fleet.lua)
--   add_fleet(def)            -> true | nil, err   a fleet definition (its build a path or a build's name)
--   remove_fleet(name)        -> true | nil, err   a fleet with no live process
--   controller_state(state)   (a send from the active dscontroller: its aliases, carried in each
--                              load report so a standby that takes over rebuilds them)
local shoal = require "shoal"
local fleet = require "ds.fleet"
local agent = require "ds.agent"

local logdir_arg = ... -- the log directory, instead of dsagent_logdir (several agents on one node: tests)
local command = {}
local a

function command.allocate(name, match, notify)
	return a:allocate(name, match, notify)
end

function command.release(id)
	return a:release(id)
end

function command.alerts() -- the dashboard's recent alerts: lines, newest last
	return a.alerts
end

function command.load()
	return a:load()
end

function command.reset(name)
	return a:reset(name)
end

function command.drain(deadline_ms)
	return a:drain(deadline_ms)
end

function command.undrain()
	return a:undrain()
end

function command.scale(name, n)
	return a:scale(name, n)
end

local builds, defaults = {}, nil

function command.build(def)
	local b, err = fleet.check_build(def)
	if not b then
		return nil, err
	end
	local old = builds[b.name]
	if old and (old.version ~= b.version or old.path ~= b.path) then
		return nil, string.format("build %s: registered already as %s (%s)", b.name, old.version, old.path)
	end
	builds[b.name] = b
	shoal.log(string.format("dsagent event=build name=%s version=%s path=%s", b.name, b.version, b.path))
	return true
end

function command.add_fleet(def)
	local f, err = fleet.check(def, defaults, builds)
	if not f then
		return nil, err
	end
	return a:add_fleet(f)
end

function command.remove_fleet(name)
	return a:remove_fleet(name)
end

local ctl_state -- the active dscontroller's state ({epoch, seq, aliases}), the newest seen

function command.controller_state(state)
	if type(state) ~= "table" or math.type(state.epoch) ~= "integer" or math.type(state.seq) ~= "integer"
			or type(state.aliases) ~= "table" then
		return
	end
	if (ctl_state == nil or state.epoch > ctl_state.epoch
			or (state.epoch == ctl_state.epoch and state.seq > ctl_state.seq)) then
		ctl_state = state
	end
end

shoal.start(function()
	local cfg = shoal.config
	defaults = fleet.defaults(cfg)
	local list, errs
	list, errs, builds = fleet.load(cfg("dsagent_fleets"), defaults)
	builds = builds or {}
	for _, e in ipairs(errs) do
		shoal.error("dsagent: " .. e)
	end
	local logdir = logdir_arg or cfg("dsagent_logdir")
	if logdir == "" then
		logdir = "dsagent-logs"
	end
	local proc = require "shoal.proc"
	local ok, err = proc.mkdir(logdir)
	if not ok then
		shoal.error("dsagent: log directory " .. err)
	end
	local keeper = cfg("dsagent_keeper")
	ok, err = proc.executable(keeper)
	if not ok then
		error("dsagent: the keeper " .. keeper .. " " .. err .. " (config dsagent_keeper)")
	end
	local controller, every = cfg("dsagent_controller"), cfg("dsagent_report_ms")
	-- "lease:NAME": the active controller is the holder of the registry
	-- lease NAME, looked up again before every report (a standby that took
	-- over gets the next report)
	local lease_name, lease_client = controller:match("^lease:(.+)$"), nil
	if lease_name then
		lease_client = require("shoal.lease").client(lease_name, { timeout = every })
		controller = ""
	end
	local function send_report()
		if controller ~= "" then
			local load = a:load()
			load.controller_state = ctl_state
			shoal.send(controller, "lua", "report", shoal.self(), load)
		end
	end
	local finding = false
	local function find_controller()
		if finding then
			return
		end
		finding = true
		local h, why = lease_client:find()
		finding = false
		if h then
			controller = h
		elseif controller ~= "" then
			controller = ""
			shoal.warn(string.format("dsagent: no active dscontroller (lease %s): %s", lease_name, why))
		end
		send_report()
	end
	a = agent.new { fleets = list, keeper = keeper, logdir = logdir, check_ms = cfg("dsagent_check_ms"),
		history = cfg("dsagent_history"), max_starting = cfg("dsagent_max_starting"), on_ready = send_report,
		alert_out = require("ds.alert").new { command = cfg("dsagent_alert_command"),
			webhook = cfg("dsagent_alert_webhook") } }
	shoal.dispatch_commands(command)
	pcall(shoal.name, ".dsagent", shoal.self()) -- the dashboard asks the node's first dsagent
	local report = require "game.report"
	report.provide("ds", function(name)
		return a:lines(name)
	end)
	report.provide("drain", function(ms) -- the console's `drain MS`
		a:drain(ms)
		return { string.format("dsagent :%08x: draining: no new allocation, allocated DSs reaped after %d ms (%d allocated)",
			shoal.self(), ms, a:load().by_state.allocated) }, 1
	end)
	local function report()
		if lease_client then
			shoal.fork(find_controller)
		else
			send_report()
		end
		shoal.timeout(every, report)
	end
	shoal.timeout(every, report)
	a:run()
	if lease_client then
		shoal.fork(find_controller)
	end
	send_report()
	shoal.log(string.format("dsagent: %d fleets (%d refused), keeper %s, logs in %s", #list, #errs,
		cfg("dsagent_keeper"), logdir))
end)
