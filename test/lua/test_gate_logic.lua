-- test_gate_logic INDEX ROUTE IDS [SPACES]: a logic service for
-- test_gate_router. Handles the protocol ids IDS with route ROUTE; replies
-- "i=INDEX uid=UID body=BODY"; protocol 12 raises; protocol 13 sets
-- ctx.level (a ctx update); protocol 14 raises the body itself as its error
-- (client data in an error's text). Its own "lua" command "whoami" returns
-- INDEX.
local shoal = require "shoal"
local router = require "shoal.router"

local index, route, ids, spaces = ...

shoal.start(function()
	shoal.dispatch("lua", function(_, _, cmd)
		if cmd == "whoami" then
			return index
		end
		error("test_gate_logic: unknown command " .. tostring(cmd))
	end)
	for _, id in ipairs(ids) do
		router.handle(id, function(ctx, body, pid)
			if pid == 12 then
				error("logic failure on purpose")
			elseif pid == 14 then
				error(body, 0)
			elseif pid == 13 then
				return "levelled", { level = (ctx.level or 0) + 1 }
			end
			return string.format("i=%d uid=%s body=%s space=%s", index, tostring(ctx.uid), body, tostring(ctx.space))
		end)
	end
	router.register(ids, { route = route, spaces = spaces, command = {
		ping = function()
			return "pong " .. index
		end,
	} })
end)
