-- e2e_ds_driver: starts dsagent and takes line commands on a TCP port on
-- 127.0.0.1 (logged as "e2e_ds_driver port N") for test/e2e/test_dsagent.py:
--   alloc FLEET [DATA] -> "ok ID PORT PID" | "err TEXT"
--   load               -> "load starting=N ready=N allocated=N ending=N" then one
--                         "fleet NAME starting=N ready=N allocated=N ending=N crash_looping=B" line each, then "."
--   reset FLEET        -> "ok" | "err TEXT"
--   drain MS | undrain -> "ok" | "err TEXT"
-- It names e2e_ds_ctl ".dsctl" (config dsagent_controller = ".dsctl" sends it the reports).
local shoal = require "shoal"
local socket = require "shoal.socket"

local ds

local function load_lines()
	local l = shoal.call(ds, "lua", "load")
	local b = l.by_state
	local out = { string.format("load starting=%d ready=%d allocated=%d ending=%d", b.starting, b.ready, b.allocated,
		b.ending) }
	local names = {}
	for name in pairs(l.fleets) do
		names[#names + 1] = name
	end
	table.sort(names)
	for _, name in ipairs(names) do
		local f = l.fleets[name]
		out[#out + 1] = string.format("fleet %s starting=%d ready=%d allocated=%d ending=%d crash_looping=%s", name,
			f.starting, f.ready, f.allocated, f.ending, tostring(f.crash_looping))
	end
	out[#out + 1] = "."
	return table.concat(out, "\n")
end

local function serve(id)
	socket.start(id)
	while true do
		local line = socket.readline(id)
		if not line then
			return socket.close(id)
		end
		local cmd, a, b = line:match("^(%S+)%s*(%S*)%s*(.*)$")
		local reply
		if cmd == "alloc" then
			local r, err = shoal.call(ds, "lua", "allocate", a, b)
			reply = r and string.format("ok %d %d %s", r.id, r.port, tostring(r.pid)) or "err " .. tostring(err)
		elseif cmd == "load" then
			reply = load_lines()
		elseif cmd == "drain" then
			local ok, err = shoal.call(ds, "lua", "drain", math.tointeger(tonumber(a)) or a)
			reply = ok and "ok" or "err " .. tostring(err)
		elseif cmd == "undrain" then
			shoal.call(ds, "lua", "undrain")
			reply = "ok"
		elseif cmd == "reset" then
			local ok, err = shoal.call(ds, "lua", "reset", a)
			reply = ok and "ok" or "err " .. tostring(err)
		else
			reply = "err unknown command"
		end
		socket.write(id, reply .. "\n")
	end
end

shoal.start(function()
	-- .dsctl: a stand-in controller that logs each load report it gets
	local ctl = shoal.newservice("e2e_ds_ctl")
	shoal.name(".dsctl", ctl)
	ds = shoal.newservice("dsagent")
	local lid = assert(socket.listen("127.0.0.1", 0))
	socket.start(lid, serve)
	local port
	for _, s in ipairs(require("shoal.socketdriver").info()) do
		if s.id == lid then
			port = s.peer:match(":(%d+)$")
		end
	end
	shoal.log("e2e_ds_driver port " .. tostring(port))
end)
