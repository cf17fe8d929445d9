-- gate_aead_agent: an echo agent that switches its connection to the
-- gate's AEAD mode (docs/gate.md, "Encrypted connections") when asked.
-- TEST ONLY: the client chooses the keys and sends them in clear.
--   "key C2S S2C"      (hex) gateserver.cipher with the ack "ok": from then
--                      on every frame both ways is sealed
--   "burst N W"        (sealed) W writer services and the agent write N
--                      frames each at once ("wI:K"), one writer through the
--                      gate (PTYPE_CLIENT); then the agent writes "done"
--   "cipher again"     (sealed) a second cipher command: refused, closed
--   anything else      echoed
local shoal = require "shoal"
local gateserver = require "shoal.gateserver"
local crypto = require "shoal.crypto"

local writers = {}

local function burst(conn, n, w)
	for i = #writers + 1, w do
		writers[i] = shoal.newservice("gate_aead_writer")
	end
	local gate = gateserver.gate(conn)
	local left = w
	local done = {}
	for i = 1, w do
		shoal.fork(function()
			shoal.call(writers[i], "lua", "write", gate, conn, n, "w" .. i, i == 1)
			left = left - 1
			if left == 0 then
				done.ok = true
			end
		end)
	end
	for k = 1, n do
		gateserver.write(conn, "w0:" .. k)
	end
	local deadline = shoal.now() + 20000
	while not done.ok and shoal.now() < deadline do
		shoal.sleep(5)
	end
	gateserver.write(conn, done.ok and "done" or "burst timed out")
end

shoal.start(function()
	local sealed = {}
	gateserver.agent {
		message = function(conn, msg)
			if not sealed[conn] then
				local c2s, s2c = msg:match("^key (%x+) (%x+)$")
				if c2s then
					sealed[conn] = true
					assert(gateserver.cipher(gateserver.gate(conn), conn, crypto.fromhex(c2s), crypto.fromhex(s2c), "ok"))
					return
				end
				gateserver.write(conn, msg)
				return
			end
			local n, w = msg:match("^burst (%d+) (%d+)$")
			if n then
				burst(conn, math.tointeger(n), math.tointeger(w))
			elseif msg == "cipher again" then
				gateserver.cipher(gateserver.gate(conn), conn, string.rep("k", 32), string.rep("k", 32), "again")
			else
				gateserver.write(conn, msg)
			end
		end,
		close = function(conn)
			sealed[conn] = nil
		end,
	}
end)
