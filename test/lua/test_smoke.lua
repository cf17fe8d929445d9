-- test_smoke: the harness itself works (a call round trip and a timeout).
local shoal = require "shoal"
local t = require "testlib"

local cases = {}

function cases.call_self_service()
	local mgr = shoal.localname(".service_mgr")
	t.ok(mgr, "service_mgr is named")
	t.raises("unknown command", shoal.call, mgr, "lua", "nope")
end

shoal.start(function()
	t.run(cases, { "call_self_service" })
end)
