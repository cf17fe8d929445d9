-- chat_logic INDEX: one of the chat's logic instances. Routing by
-- hash(name) sends all of a user's messages to one instance, which keeps
-- that user (so a name is unique without any shared table); a line said in
-- the room goes to every instance, and each writes it to its own users.
local shoal = require "shoal"
local gateserver = require "shoal.gateserver"
local router = require "shoal.router"
local proto = require "chat_proto"

local index = ...
local users = {} -- name -> { gate =, conn = }

-- Sends line to every user of every instance but `except`.
local function broadcast(line, except)
	for _, h in ipairs(router.instances(proto.SAY)) do
		shoal.send(h, "lua", "deliver", line, except)
	end
end

local function leave(name)
	if name and users[name] then
		users[name] = nil
		broadcast("* " .. name .. " left", name)
	end
end

local handlers = {
	[proto.LOGIN] = function(ctx, name)
		if not name:match("^[%w_%-]+$") or #name > 32 then
			return "error: a name is 1 to 32 letters, digits, '_' or '-'"
		end
		if users[name] then
			return "error: the name " .. name .. " is taken"
		end
		users[name] = { gate = ctx.gate, conn = ctx.conn }
		broadcast("* " .. name .. " joined", name)
		return "welcome " .. name, { uid = name }
	end,
	[proto.SAY] = function(ctx, text)
		if users[ctx.uid] == nil then
			return "error: login first"
		end
		broadcast(ctx.uid .. ": " .. text)
	end,
	[proto.QUIT] = function(ctx)
		leave(ctx.uid)
		return "bye " .. ctx.uid, { uid = false }
	end,
	[proto.LEAVE] = function(ctx)
		leave(ctx.uid)
	end,
}

local command = {}

-- deliver LINE EXCEPT: write line to this instance's users
function command.deliver(line, except)
	for name, u in pairs(users) do
		if name ~= except then
			gateserver.send(u.gate, u.conn, line)
		end
	end
end

shoal.start(function()
	router.serve(handlers, { route = "hash", command = command })
	shoal.log(string.format("chat logic %d ready", index))
end)
