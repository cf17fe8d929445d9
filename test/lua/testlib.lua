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

-- Asserts that the string s contains `pattern` (plain text).
function t.contains(s, pattern, what)
	if type(s) ~= "string" or not s:find(pattern, 1, true) then
		error(string.format("%s: expected a string containing '%s', got: %s", what or "value", pattern,
			tostring(s)), 2)
	end
	return s
end

-- Asserts lo <= v <= hi.
function t.between(v, lo, hi, what)
	if type(v) ~= "number" or v < lo or v > hi then
		error(string.format("%s: expected a number in [%s, %s], got %s", what or "value", tostring(lo),
			tostring(hi), tostring(v)), 2)
	end
	return v
end

-- Structural equality of plain values and tables (keys compared with ==,
-- so integer 1 and float 1.0 are the same key, as in Lua itself; values
-- must also have the same math.type when both are numbers).
local function deep_equal(a, b, path, seen)
	if type(a) ~= type(b) then
		return false, string.format("%s: type %s vs %s", path, type(a), type(b))
	end
	if type(a) == "number" then
		if math.type(a) ~= math.type(b) then
			return false, string.format("%s: %s %s vs %s %s", path, math.type(a), tostring(a), math.type(b), tostring(b))
		end
		if a ~= b and not (a ~= a and b ~= b) then
			return false, string.format("%s: %s vs %s", path, tostring(a), tostring(b))
		end
		return true
	end
	if type(a) ~= "table" then
		if a ~= b then
			return false, string.format("%s: %s vs %s", path, tostring(a), tostring(b))
		end
		return true
	end
	seen = seen or {}
	if seen[a] == b then
		return true
	end
	seen[a] = b
	for k, v in pairs(a) do
		local ok, why = deep_equal(v, b[k], path .. "[" .. tostring(k) .. "]", seen)
		if not ok then
			return false, why
		end
	end
	for k in pairs(b) do
		if a[k] == nil then
			return false, string.format("%s[%s]: missing on the left", path, tostring(k))
		end
	end
	return true
end

function t.same(a, b, what)
	local ok, why = deep_equal(a, b, what or "value")
	if not ok then
		error("not the same: " .. why, 2)
	end
end

-- Asserts that a packed list (table.pack result or {n=..}) equals the
-- expected values, position by position, including nils and the count.
function t.values(got, expected, what)
	what = what or "values"
	if got.n ~= expected.n then
		error(string.format("%s: expected %d values, got %d", what, expected.n, got.n), 2)
	end
	for i = 1, expected.n do
		local ok, why = deep_equal(got[i], expected[i], string.format("%s #%d", what, i))
		if not ok then
			error("not the same: " .. why, 2)
		end
	end
end

-- Runs every function of fns in its own forked coroutine and waits until
-- all returned, at most limit_ms (default 10000): the wait is a sleep that
-- the last finisher breaks, so it is bounded. Returns the results, one
-- table.pack(pcall(fn)) per function with .ms (its run time) and .rank
-- (1 for the first to finish), and the list of indexes in finishing order.
function t.join(fns, limit_ms)
	local me = coroutine.running()
	local left = #fns
	local results, order = {}, {}
	local parked = false
	for i, fn in ipairs(fns) do
		shoal.fork(function()
			local t0 = shoal.now()
			local r = table.pack(pcall(fn))
			r.ms = shoal.now() - t0
			results[i] = r
			order[#order + 1] = i
			r.rank = #order
			left = left - 1
			if left == 0 and parked then
				parked = false
				shoal.wakeup(me)
			end
		end)
	end
	if left > 0 then
		parked = true
		local why = shoal.sleep(limit_ms or 10000)
		if why ~= "BREAK" then
			parked = false
			error(string.format("join: %d of %d coroutines still running after %d ms", left, #fns,
				limit_ms or 10000), 2)
		end
	end
	return results, order
end

-- Polls pred() every step_ms until it returns a true value, at most
-- limit_ms. Returns that value, or raises.
function t.wait_until(pred, limit_ms, step_ms, what)
	local deadline = shoal.now() + limit_ms
	while true do
		local v = pred()
		if v then
			return v
		end
		if shoal.now() >= deadline then
			error(string.format("%s: not true after %d ms", what or "condition", limit_ms), 2)
		end
		shoal.sleep(step_ms or 10)
	end
end

-- Milliseconds fn(...) took, then its results (packed).
function t.timed(fn, ...)
	local t0 = shoal.now()
	local r = table.pack(pcall(fn, ...))
	return shoal.now() - t0, r
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
