-- gate_route_logic INDEX: one of several instances of a stateless logic
-- service routed by hash(uid). Replies name the instance and count the
-- messages of each uid it saw, so the runner can tell that a uid always
-- reaches the same instance.
local shoal = require "shoal"
local router = require "shoal.router"

local index = ...
local seen = {}

shoal.start(function()
	router.serve({
		[1] = function(_, body)
			return router.encode(1, string.format("login i=%d uid=%s", index, body)), { uid = body }
		end,
		[2] = function(ctx, body)
			seen[ctx.uid] = (seen[ctx.uid] or 0) + 1
			return router.encode(2, string.format("i=%d uid=%s n=%d %s", index, ctx.uid, seen[ctx.uid], body))
		end,
	}, { route = "hash" })
end)
