local shoal = require "shoal"
local socket = require "shoal.socket"
local lport
shoal.start(function()
	local lid = assert(socket.listen("127.0.0.1", 0))
	socket.start(lid, function(id) socket.start(id) shoal.sleep(100000) end)
	for _, s in ipairs(socket.info()) do if s.id == lid then lport = math.tointeger(tonumber(s.peer:match(":(%d+)$"))) end end
	shoal.dispatch("lua", function(_, _, cmd)
		-- busy: every message spends a little time, so DATA piles up
		if cmd == "port" then return lport end
	end)
	shoal.fork(function() while true do local t = shoal.now(); while shoal.now() - t < 5 do end shoal.yield() end end)
end)
