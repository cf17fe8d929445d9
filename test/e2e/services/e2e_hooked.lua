-- e2e_hooked NAME PEER EXPECT_CALL: a service with an exit hook that
-- writes the marker file "<e2e_dir>/NAME.marker".
--   PEER (a handle, or 0): the hook first calls PEER ("ping") during the
--     shutdown and records the outcome in the marker.
--   EXPECT_CALL (boolean): this service is called by a peer's hook; its own
--     hook waits (at most 5 s) until that call arrived, so it is still
--     alive to answer it.
local shoal = require "shoal"

local name, peer, expect_call = ...
local shutting_down = false
local called_in_shutdown = false
local hook_co

-- Writes the marker atomically (write, then rename), so the test never
-- reads a half-written file.
local function write_marker(text)
	local dir = assert(shoal.getenv("e2e_dir"), "config key e2e_dir is not set")
	local final = dir .. "/" .. name .. ".marker"
	local f = assert(io.open(final .. ".tmp", "w"))
	f:write(text)
	f:close()
	assert(os.rename(final .. ".tmp", final))
end

shoal.start(function()
	shoal.dispatch("lua", function(_, _, cmd)
		if cmd ~= "ping" then
			error("e2e_hooked: unknown command " .. tostring(cmd))
		end
		if not shutting_down then
			return "pong"
		end
		called_in_shutdown = true
		if hook_co then
			shoal.wakeup(hook_co)
		end
		return "pong from " .. name .. " during shutdown"
	end)
	shoal.on_exit(function()
		shutting_down = true
		local text = name .. " exited"
		if peer and peer ~= 0 then
			local ok, reply = pcall(shoal.call, peer, "lua", "ping")
			text = text .. "; call " .. (ok and "ok: " or "failed: ") .. tostring(reply)
		end
		if expect_call and not called_in_shutdown then
			hook_co = coroutine.running()
			shoal.sleep(5000)
			hook_co = nil
			text = text .. (called_in_shutdown and "; was called" or "; was NOT called")
		elseif expect_call then
			text = text .. "; was called"
		end
		write_marker(text)
	end)
end)
