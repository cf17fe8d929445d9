-- game_demo: the tiny game of the login demo, as a logic service behind
-- the router (docs/protocol.md section 6): MOVE -> MOVED, SAY -> CHAT to
-- every player of the sender's baseapp (and counts the player's lines in its
-- saved game data, ctx.data.said). Start one or more instances on each
-- baseapp node; messages are routed by hash of the account.
local shoal = require "shoal"
local router = require "shoal.router"
local proto = require "game.proto"

local C = proto.codes
local LIMIT = 1000000

local function decode(id, body)
	return proto.decode(string.pack(">I2", id) .. body)
end

local handlers = {}

handlers[proto.ids.MOVE] = function(ctx, body, id)
	local name, m = decode(id, body)
	if name ~= "MOVE" then
		return proto.error(C.MALFORMED, "bad MOVE")
	end
	if math.abs(m.x) > LIMIT or math.abs(m.y) > LIMIT then
		return proto.error(C.BAD_MOVE, "out of the map")
	end
	return proto.encode("MOVED", m.x, m.y), { x = m.x, y = m.y }
end

handlers[proto.ids.SAY] = function(ctx, body, id)
	local name, m = decode(id, body)
	if name ~= "SAY" then
		return proto.error(C.MALFORMED, "bad SAY")
	end
	if #m.text == 0 or #m.text > 200 then
		return proto.error(C.BAD_TEXT, "1..200 bytes")
	end
	shoal.send(ctx.baseapp, "lua", "broadcast", proto.encode("CHAT", ctx.uid, ctx.name, m.text))
	-- the player's own game data, saved with its entity: lines said, ever
	local data = ctx.data
	data.said = (data.said or 0) + 1
	return nil, { data = data }
end

shoal.start(function()
	router.serve(handlers, { route = "hash" })
end)
