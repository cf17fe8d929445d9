-- testlib: tiny assertion helpers for Lua service tests.
local shoal = require "shoal"

local t = {}

function t.eq(a, b, what)
	if a ~= b then
		error(string.format("%s: expected %s, got %s", what or "value", tostring(b), tostring(a)), 2)
	end
end

function t.ok(v, what)
	if not v then
		error((what or "assertion") .. " failed", 2)
	end
	return v
end

-- Asserts that fn(...) raises an error containing `pattern` (plain text).
function t.raises(pattern, fn, ...)
	local ok, err = pcall(fn, ...)
	if ok then
		error("expected an error containing '" .. pattern .. "', got success", 2)
	end
	if not tostring(err):find(pattern, 1, true) then
		error("expected an error containing '" .. pattern .. "', got: " .. tostring(err), 2)
	end
	return err
end

-- Runs the named cases (a table name -> function) in order; logs each and
-- stops the node with 0 when all pass. A failure raises, which fails the
-- start function and stops the node with exit code 1.
function t.run(cases, order)
	for _, name in ipairs(order) do
		local started = shoal.now()
		local ok, err = xpcall(cases[name], debug.traceback)
		if not ok then
			shoal.error("FAIL " .. name .. ": " .. tostring(err))
			error("test case " .. name .. " failed", 0)
		end
		shoal.log(string.format("PASS %s (%d ms)", name, shoal.now() - started))
	end
	shoal.abort(0)
end

return t
