-- test_gate_rule: a custom route rule for test_gate_router (a lualib
-- module named by a logic service's opts.route): the first byte of the
-- body picks the instance, "a" the first, anything else the last.
return function(entry, _, _, body)
	if body:sub(1, 1) == "a" then
		return entry.instances[1]
	end
	return entry.instances[#entry.instances]
end
