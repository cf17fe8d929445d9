-- dscontroller: allocates dedicated servers across the dsagents that report
-- to it (lualib/ds/controller.lua; docs/dsagent.md, "The controller").
-- Agents find it through their config dsagent_controller (a name, e.g.
-- ".dscontroller" on one node, or a cluster-wide name).
-- Config: dscontroller_lost_ms, dscontroller_ticket_timeout_ms, dscontroller_max_tickets,
-- dscontroller_lease (a lease name: active/standby through the registry;
-- the standby answers nil, lease.NOT_ACTIVE, why to all but report and state).
--
-- Commands ("lua"):
--   report(agent, load)        (a send, from each agent every dsagent_report_ms)
--   allocate(alias or fleet [, match [, ref]]) -> {agent, id, fleet, port, pid} | {ticket = n, waiting = n} | nil, err
--                                 a ticket's holder later gets ds_ready(ticket, result, ref) (from the
--                                 agent) or ds_ticket_failed(ticket, err, ref), both "lua" sends; ref: the
--                                 caller's integer (lualib/ds/client.lua), echoed
--   cancel(ticket)             -> true | nil, err
--   alias(name, target)        -> true | nil, err   target: a fleet, or {{fleet, weight}, {fleet, weight}}
--   unalias(name)              -> true | nil, err
--   aliases()                  -> {name = "fleet" | "a:90,b:10"}
--   state()                    -> {active, epoch, id, holder}
--   build(name, version, path) -> true, n | nil, err   registered on every live agent (path checked there)
--   add_fleet(def)             -> true, n | nil, err   a fleet (its build a build's name or a path) on every live agent
--   remove_fleet(name)         -> true, n | nil, err   removed where it has no live process
local shoal = require "shoal"
local controller = require "ds.controller"
local lease = require "shoal.lease"

local c
local command = {}
local role = { active = true, epoch = 0 } -- without a lease: always active
local my_id = tostring(shoal.config("node"))

local function standby()
	return nil, lease.NOT_ACTIVE, string.format("dscontroller %s is the standby (active: %s)", my_id,
		tostring(role.holder))
end

function command.report(agent, load)
	c:report(agent, load)
end

function command.allocate(source, fleet, match, ref)
	if not role.active then
		return standby()
	end
	return c:allocate(fleet, match, source, ref)
end

function command.cancel(ticket)
	if not role.active then
		return standby()
	end
	return c:cancel(ticket)
end

function command.alias(name, target)
	if not role.active then
		return standby()
	end
	return c:set_alias(name, target)
end

function command.unalias(name)
	if not role.active then
		return standby()
	end
	return c:remove_alias(name)
end

function command.aliases()
	if not role.active then
		return standby()
	end
	return c.aliases:list()
end

function command.build(name, version, path)
	if not role.active then
		return standby()
	end
	return c:broadcast("build", { name = name, version = version, path = path })
end

function command.add_fleet(def)
	if not role.active then
		return standby()
	end
	return c:broadcast("add_fleet", def)
end

function command.remove_fleet(name)
	if not role.active then
		return standby()
	end
	return c:broadcast("remove_fleet", name)
end

function command.state()
	return { active = role.active, epoch = role.epoch, id = my_id, holder = role.holder }
end

shoal.start(function()
	c = controller.new { lost_ms = shoal.config("dscontroller_lost_ms"),
		ticket_timeout_ms = shoal.config("dscontroller_ticket_timeout_ms"),
		max_tickets = shoal.config("dscontroller_max_tickets") }
	shoal.dispatch_commands(command, "lua", { allocate = true })
	local name = shoal.config("dscontroller_lease")
	if name ~= "" then
		role.active = false
		lease.serve(name, {
			id = my_id,
			active = function(epoch)
				role.active, role.epoch, role.holder = true, epoch, my_id
				c:activate(epoch)
				shoal.log(string.format("dscontroller %s: active (lease epoch %d)", my_id, epoch))
			end,
			standby = function(holder, epoch)
				role.active, role.epoch, role.holder = false, epoch, holder and tostring(holder.id)
				shoal.log(string.format("dscontroller %s: standby (active: %s, lease epoch %d)", my_id,
					tostring(role.holder), epoch))
			end,
		})
	end
	local report = require "game.report"
	report.provide("ds", function()
		return c:lines()
	end)
	local function who()
		return string.format("dscontroller :%08x:", shoal.self())
	end
	report.provide("fleet", function()
		if not role.active then
			return { who() .. " standby (active: " .. tostring(role.holder) .. ")" }, 0
		end
		return c:fleet_lines()
	end)
	report.provide("alias", function(name, target) -- the console's `alias NAME FLEET[:PCT,FLEET2]`
		if not role.active then
			return { who() .. " standby (active: " .. tostring(role.holder) .. ")" }, 0
		end
		local ok, err = c:alias_text(name, target)
		if not ok then
			return { string.format("%s alias %s: %s", who(), tostring(name), err) }, 0
		end
		return { string.format("%s alias %s -> %s", who(), name, c.aliases:list()[name]) }, 1
	end)
	report.provide("scale", function(name, n) -- the console's `scale FLEET N`
		if not role.active then
			return { who() .. " standby (active: " .. tostring(role.holder) .. ")" }, 0
		end
		local lines, done = c:scale(name, n)
		if not lines then
			return { string.format("%s scale %s: %s", who(), tostring(name), done) }, 0
		end
		table.insert(lines, 1, string.format("%s scale %s to %d", who(), name, n))
		return lines, done
	end)
	report.provide("alloc", function(name) -- the console's `alloc NAME`: a ready DS or an error, no ticket
		if not role.active then
			return { string.format("dscontroller :%08x: standby (active: %s)", shoal.self(), tostring(role.holder)) }, 0
		end
		local fleet = c.aliases:pick(name) or name
		local r, known = c:try(fleet, "console")
		if r then
			return { string.format("dscontroller :%08x: alloc %s: fleet %s ds %d on agent :%08x port %d pid %s",
				shoal.self(), name, fleet, r.id, r.agent, r.port, tostring(r.pid)) }, 1
		end
		return { string.format("dscontroller :%08x: alloc %s: %s", shoal.self(), name,
			known and "no ready DS of fleet " .. fleet or "no agent has fleet " .. fleet) }, 0
	end)
end)
