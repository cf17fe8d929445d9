-- shoal/reload.lua - hot reload of a running Lua service's own file, for
-- the debug console's `reload` (see shoal/debug.lua). Loaded on the first
-- reload only.
--
-- What a reload does, inside the service:
--
-- 1. Drops the file from the process's bytecode cache (shoal.cacheclear),
--    so services started from now on run the new code too, and compiles
--    SERVICE_PATH again (or, given a file, compiles that instead: a
--    patched copy for this one service). A syntax error stops here:
--    nothing changed.
-- 2. Runs the new file with shoal.setreloading(true): shoal.start returns
--    at once (the start function does not run again), shoal.dispatch and
--    shoal.register_protocol calls at the top level of the file replace
--    the handlers. The file runs without arguments (`...` is empty). If it
--    raises, the handlers it replaced are put back.
-- 3. Joins old and new code by name: the old side is the functions defined
--    in the service file that are reachable from the dispatch handlers
--    (through upvalues, and through tables held in upvalues, like a
--    `command` table); the new side is the new file's top-level locals (as
--    they were when it returned) and the functions reachable from them,
--    from the new start function and from the new handlers:
--    - code (a function, or a table holding functions) goes from the new
--      file to the old functions: a dispatch handler installed inside the
--      old start function now calls the new `command` table;
--    - state (any other value: numbers, strings, tables of data) stays: the
--      new functions share the old variable, so `local total = 0` in the
--      new file keeps the running total.
--    Globals are shared by both versions anyway: `hits = hits or 0` keeps
--    its value.
--
-- Known limits: a table that holds functions counts as code and is
-- replaced (keep state in separate locals); two different locals with
-- the same name in one file are joined as one; a local whose value is
-- kept cannot change its initial value through a reload (change a
-- constant by renaming it); the top level of the file must not block
-- (call other services) while the reload hooks are in place.

local MAX_FUNCTIONS = 10000 -- functions visited per graph
local MAX_TABLE_SCAN = 256 -- entries looked at per table

-- Calls fn(f) for each function among the first MAX_TABLE_SCAN values of
-- table t; stops early when fn returns true (and returns true then).
local function each_function(t, fn)
	local n = 0
	for _, x in next, t do
		if type(x) == "function" and fn(x) then
			return true
		end
		n = n + 1
		if n >= MAX_TABLE_SCAN then
			break
		end
	end
	return false
end

local function is_code(v)
	if type(v) == "function" then
		return true
	end
	return type(v) == "table" and each_function(v, function()
		return true
	end)
end

local function from(sources, f)
	local info = debug.getinfo(f, "S")
	return info.what ~= "C" and sources[info.source] ~= nil
end

-- Upvalues of the functions of the service's code (defined in one of
-- `sources`) reachable from roots (functions, or tables holding them):
-- name -> list of {fn, index}; and the tables reached that hold some of
-- those functions (a library's handler table, like the router's: it is
-- reached through the library's own functions, which are walked but
-- never changed).
local function collect(roots, sources)
	local cells, seen, stack, tables = {}, {}, {}, {}
	local function push(v)
		if type(v) == "function" then
			stack[#stack + 1] = v
		elseif type(v) == "table" and not seen[v] then
			seen[v] = true
			local mine = false
			each_function(v, function(f)
				stack[#stack + 1] = f
				mine = mine or from(sources, f)
			end)
			if mine then
				tables[#tables + 1] = v
			end
		end
	end
	for _, v in ipairs(roots) do
		push(v)
	end
	local visited = 0
	while #stack > 0 and visited < MAX_FUNCTIONS do
		local f = table.remove(stack)
		if not seen[f] then
			seen[f] = true
			local info = debug.getinfo(f, "S")
			local mine = info.what ~= "C" and sources[info.source]
			if info.what ~= "C" then
				visited = visited + 1
				local i = 1
				while true do
					local name, v = debug.getupvalue(f, i)
					if name == nil then
						break
					end
					if name ~= "_ENV" and name ~= "(no name)" then
						if mine then
							local list = cells[name]
							if list == nil then
								list = {}
								cells[name] = list
							end
							list[#list + 1] = { f, i }
						end
						push(v)
					end
					i = i + 1
				end
			end
		end
	end
	return cells, tables
end

-- A handler table the running code registered with a library (the
-- router's copy of `handlers`) cannot be reached by name: each table of
-- the running code that shares a key with a code table of the new file,
-- both holding functions of the service there, gets the new file's
-- functions in place (a table the join rebinds by name is updated too,
-- for the library functions that hold it, but counted once, there).
-- -> how many tables were updated that no name reached
local function update_tables(old_tables, named, values, sources)
	local updated = 0
	for _, nv in pairs(values) do
		if type(nv) == "table" and is_code(nv) then
			for _, t in ipairs(old_tables) do
				local shares = false
				if t ~= nv then
					for k, f in next, nv do
						if type(f) == "function" and type(rawget(t, k)) == "function" and from(sources, rawget(t, k)) then
							shares = true
							break
						end
					end
				end
				if shares then
					for k, f in next, nv do
						local cur = rawget(t, k)
						if type(f) == "function" and (cur == nil or (type(cur) == "function" and from(sources, cur))) then
							rawset(t, k, f)
						end
					end
					updated = updated + (named[t] and 0 or 1)
				end
			end
		end
	end
	return updated
end

-- old: cells of the running code; new: cells of the new code; values: the
-- new file's top-level locals (they win over the cells' values).
local function join(old, new, values)
	local replaced, kept = 0, 0
	local names = {}
	for name in pairs(new) do
		names[name] = true
	end
	for name in pairs(values) do
		names[name] = true
	end
	for name in pairs(names) do
		local oldlist = old[name]
		if oldlist then
			local newlist = new[name] or {}
			local nv = values[name]
			if nv == nil and newlist[1] then
				nv = select(2, debug.getupvalue(newlist[1][1], newlist[1][2]))
			end
			local of, oi = oldlist[1][1], oldlist[1][2]
			local _, ov = debug.getupvalue(of, oi)
			if is_code(nv) then
				for _, c in ipairs(oldlist) do
					debug.setupvalue(c[1], c[2], nv)
				end
				replaced = replaced + 1
			elseif not is_code(ov) then
				for _, c in ipairs(newlist) do
					debug.upvaluejoin(c[1], c[2], of, oi)
				end
				kept = kept + 1
			end
		end
	end
	return replaced, kept
end

-- Runs chunk under xpcall; returns ok, error and the chunk's top-level
-- locals as they were when it returned (a return hook reads them).
local function run_chunk(chunk, traceback)
	local locals = {}
	local function hook()
		local info = debug.getinfo(2, "f")
		if info and info.func == chunk then
			local i = 1
			while true do
				local name, v = debug.getlocal(2, i)
				if name == nil then
					break
				end
				if name:sub(1, 1) ~= "(" then
					locals[name] = v
				end
				i = i + 1
			end
		end
	end
	local prev, mask, count = debug.gethook()
	debug.sethook(hook, "r")
	local ok, err = xpcall(chunk, traceback)
	if type(prev) == "function" then
		debug.sethook(prev, mask, count)
	else
		debug.sethook()
	end
	return ok, err, locals
end

-- Every file this service's code was loaded from: the functions defined
-- there are the service's code; library functions are never touched.
local sources = {}

-- reload(shoal [, file]): reloads SERVICE_PATH, or takes the new code from
-- file (a patched copy; the bytecode cache is then left alone).
return function(shoal, file)
	local path = SERVICE_PATH
	if type(path) ~= "string" then
		return false, "this service has no SERVICE_PATH to reload"
	end
	sources["@" .. path] = true
	if file == nil then
		shoal.cacheclear(path)
	end
	local chunk, err = loadfile(file or path, "t")
	if not chunk then
		return false, err
	end
	sources["@" .. (file or path)] = true

	local real = {
		dispatch = shoal.dispatch,
		register_protocol = shoal.register_protocol,
		start = shoal.start,
	}
	-- The current handler of a protocol (nil if none or unknown).
	local function handler(proto)
		local ok, old = pcall(real.dispatch, proto, nil)
		if ok then
			real.dispatch(proto, old)
			return old
		end
	end
	local old_roots, new_roots, undo = {}, {}, {}
	local function remember(proto)
		if undo[proto] == nil then
			local old = handler(proto)
			undo[proto] = { old = old }
			old_roots[#old_roots + 1] = old
		end
	end
	remember("lua")
	remember("text")
	local handlers = 0

	shoal.dispatch = function(proto, fn)
		remember(proto)
		handlers = handlers + 1
		new_roots[#new_roots + 1] = fn
		return real.dispatch(proto, fn)
	end
	shoal.register_protocol = function(p)
		if type(p) == "table" and type(p.name) == "string" then
			remember(p.name)
			if p.dispatch then
				handlers = handlers + 1
				new_roots[#new_roots + 1] = p.dispatch
			end
		end
		return real.register_protocol(p)
	end
	shoal.start = function(fn, ...)
		new_roots[#new_roots + 1] = fn
		return real.start(fn, ...)
	end
	shoal.setreloading(true)
	local ok, why, locals = run_chunk(chunk, shoal.traceback)
	shoal.setreloading(false)
	shoal.dispatch = real.dispatch
	shoal.register_protocol = real.register_protocol
	shoal.start = real.start

	if not ok then
		for proto, u in pairs(undo) do
			pcall(real.dispatch, proto, u.old)
		end
		return false, tostring(why)
	end
	for _, v in pairs(locals) do
		new_roots[#new_roots + 1] = v
	end
	local old_cells, old_tables = collect(old_roots, sources)
	local named = {} -- the tables the running code's locals hold (before the join rebinds them)
	for _, list in pairs(old_cells) do
		local _, v = debug.getupvalue(list[1][1], list[1][2])
		if type(v) == "table" then
			named[v] = true
		end
	end
	local replaced, kept = join(old_cells, (collect(new_roots, sources)), locals)
	replaced = replaced + update_tables(old_tables, named, locals, sources)
	return true, { handlers = handlers, replaced = replaced, kept = kept }
end
