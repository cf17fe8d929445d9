-- gate_route_agent: client frames are a 2-byte protocol id + body; each is
-- routed to a logic service (shoal.router) and the reply is written back.
-- Protocol 1 is the login (body = uid); the rest need a login first.
local shoal = require "shoal"
local gateserver = require "shoal.gateserver"
local router = require "shoal.router"

local ctxs = {}

shoal.start(function()
	gateserver.agent {
		open = function(conn)
			ctxs[conn] = { gate = gateserver.gate(conn), conn = conn }
		end,
		message = function(conn, msg)
			local ctx = ctxs[conn]
			local id, body = router.decode(msg)
			if id == nil then
				gateserver.write(conn, router.encode(0, "error: bad frame"))
				return
			elseif id ~= 1 and ctx.uid == nil then
				gateserver.write(conn, router.encode(0, "error: login first"))
				return
			end
			local ok, reply = router.route(id == 1 and body or ctx.uid, id, body, ctx)
			if not ok then
				reply = router.encode(0, "error: " .. reply)
			end
			if reply then
				gateserver.write(conn, reply)
			end
		end,
		close = function(conn)
			ctxs[conn] = nil
		end,
	}
end)
