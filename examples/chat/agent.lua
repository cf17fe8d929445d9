-- agent: serves one chat client. Maps "login NAME", "say TEXT" and "quit"
-- to protocol ids and routes them to the chat logic by the user's name.
local shoal = require "shoal"
local gateserver = require "shoal.gateserver"
local router = require "shoal.router"
local proto = require "chat_proto"

local ctx -- gate, conn, uid (the name, once logged in)

local function handle(conn, msg)
	local word, rest = msg:match("^(%S+)%s?(.*)$")
	local id = proto.words[word or ""]
	if id == nil then
		return gateserver.write(conn, "error: say 'login NAME', 'say TEXT' or 'quit'")
	elseif id == proto.LOGIN and ctx.uid then
		return gateserver.write(conn, "error: already logged in as " .. ctx.uid)
	elseif id ~= proto.LOGIN and not ctx.uid then
		return gateserver.write(conn, "error: login first")
	end
	local ok, reply = router.route(ctx.uid or rest, id, rest, ctx)
	if not ok or reply then
		gateserver.write(conn, ok and reply or "error: " .. tostring(reply))
	end
	if id == proto.QUIT then
		gateserver.kick(conn)
	end
end

shoal.start(function()
	gateserver.agent {
		open = function(conn)
			ctx = { gate = gateserver.gate(conn), conn = conn }
		end,
		message = handle,
		close = function()
			if ctx.uid then
				router.route(ctx.uid, proto.LEAVE, "", ctx)
			end
		end,
	}
end)
