-- gate_aead_writer: writes frames to a client connection for
-- gate_aead_agent's "burst": straight onto the socket, or through the gate
-- (PTYPE_CLIENT, session 0, 4-byte connection id first).
local shoal = require "shoal"
local gateserver = require "shoal.gateserver"

shoal.start(function()
	shoal.dispatch_commands {
		write = function(gate, conn, n, tag, via_gate)
			for k = 1, n do
				local data = tag .. ":" .. k
				if via_gate then
					shoal.sendraw(gate, shoal.PTYPE_CLIENT, 0, string.pack(">I4", conn) .. data)
				else
					gateserver.write(conn, data)
				end
			end
			return true
		end,
	}
end)
