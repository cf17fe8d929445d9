-- test_serial: the message serializer seen from Lua (shoal.packstring,
-- shoal.unpack, and messages between services).
local shoal = require "shoal"
local serial = require "shoal.serial"
local t = require "testlib"

local cases = {}

local function roundtrip(...)
	return table.pack(shoal.unpack(shoal.packstring(...)))
end

local function nested(depth)
	local root = {}
	local cur = root
	for i = 2, depth do
		cur.next = { level = i }
		cur = cur.next
	end
	return root
end

local function sample()
	local many = {}
	for i = 1, 200 do
		many["key" .. i] = { i, tostring(i), i % 2 == 0 }
	end
	local bigarray = {}
	for i = 1, 1000 do
		bigarray[i] = i * 3
	end
	return {
		1, 2, "three", { 4, { 5, { 6 } } },
		name = "sample",
		[true] = "bool key",
		[false] = { "false key" },
		[1.5] = "float key",
		[-7] = "negative key",
		[1000000] = "far key",
		empty = {},
		many = many, -- 200 hash pairs: the hash count needs 2 bytes
		bigarray = bigarray,
		deep = { a = { b = { c = { d = { e = "deep" } } } } },
		mixed = { 10, 20, 30, x = "x", y = { 40 } },
	}
end

function cases.scalars_roundtrip()
	local values = table.pack(nil, true, false, 0, 1, -1, 127, 128, -32, -33, 255, 256, -129, 32767, 32768,
		-32769, 2147483647, 2147483648, -2147483649, math.maxinteger, math.mininteger,
		0.5, 1.0, -2.25, 0.1, 1e308, -1e-308, math.huge, -math.huge, math.pi,
		"", "a", string.rep("s", 63), string.rep("m", 64), string.rep("l", 255), string.rep("L", 256),
		string.rep("w", 65535), string.rep("W", 65536), "nul\0inside\0", "\xff\xfe\x00\x01", nil)
	t.values(roundtrip(table.unpack(values, 1, values.n)), values, "scalars")
	-- -0.0 and NaN keep their identity
	local r = roundtrip(-0.0, 0 / 0)
	t.eq(math.type(r[1]), "float", "-0.0 type")
	t.eq(1 / r[1], -math.huge, "-0.0 sign")
	t.ok(r[2] ~= r[2], "NaN stays NaN")
	t.values(roundtrip(), table.pack(), "no values")
	t.values(roundtrip(nil), table.pack(nil), "one nil")
	t.values(roundtrip(nil, nil, nil), table.pack(nil, nil, nil), "three nils")
end

function cases.nested_tables_roundtrip()
	local s = sample()
	local r = roundtrip(s, "after", s.deep)
	t.eq(r.n, 3, "count")
	t.same(r[1], s, "sample table")
	t.eq(r[2], "after", "value after the table")
	t.same(r[3], s.deep, "subtable")
	-- as deep as allowed
	local max = serial.max_depth
	t.same(roundtrip(nested(max))[1], nested(max), "nesting of " .. max)
	-- a sparse array keeps its holes
	local sparse = { 1, nil, 3, nil, nil, 6 }
	local back = roundtrip(sparse)[1]
	for i = 1, 6 do
		t.eq(back[i], sparse[i], "sparse[" .. i .. "]")
	end
	-- a table shared twice (not a cycle) is packed twice
	local shared = { v = 1 }
	local pair = roundtrip({ a = shared, b = shared })[1]
	t.same(pair.a, shared, "first copy")
	t.same(pair.b, shared, "second copy")
end

function cases.roundtrip_through_another_service()
	local svc = shoal.newservice("call_svc")
	local s = sample()
	local args = table.pack(nil, s, 0.5, math.mininteger, nil, "\0", nested(serial.max_depth), nil)
	t.values(table.pack(shoal.call(svc, "lua", "echo", table.unpack(args, 1, args.n))), args, "echo")
	shoal.kill(svc)
end

function cases.unpackable_values_raise()
	t.raises("cannot pack a function", shoal.packstring, print)
	t.raises("cannot pack a function", shoal.packstring, function() end)
	t.raises("cannot pack a thread", shoal.packstring, coroutine.create(function() end))
	t.raises("cannot pack a userdata", shoal.packstring, io.stdout)
	local err = t.raises("cannot pack a function", shoal.packstring, 1, { a = { b = print } })
	t.contains(err, "argument 2", "where")
	t.contains(err, "'a' > 'b'", "where")
	t.raises("as a table key", shoal.packstring, { [print] = 1 })
	-- sending raises too (nothing is sent), and the caller can go on
	local svc = shoal.newservice("call_svc")
	t.raises("cannot pack", shoal.send, svc, "lua", "echo", print)
	t.raises("cannot pack", shoal.call, svc, "lua", "echo", { co = coroutine.running() })
	t.values(table.pack(shoal.call(svc, "lua", "echo", 1)), table.pack(1), "call after")
	shoal.kill(svc)
end

function cases.cycles_raise()
	local a = {}
	a.self = a
	t.raises("cycle", shoal.packstring, a)
	local b = { c = { d = {} } }
	b.c.d.back = b
	t.raises("cycle", shoal.packstring, "x", b)
	local arr = { 1, 2 }
	arr[3] = arr
	t.raises("cycle", shoal.packstring, arr)
	t.raises("cycle", shoal.send, shoal.self(), "lua", a)
end

function cases.too_deep_raises()
	t.raises("nested deeper", shoal.packstring, nested(serial.max_depth + 1))
end

function cases.over_the_size_limit_raises()
	local limit = serial.getlimit()
	t.eq(limit, serial.default_limit, "limit")
	local big = string.rep("z", limit) -- with its header it is over the limit
	t.raises("exceeds the limit", shoal.packstring, big)
	local svc = shoal.newservice("call_svc")
	t.raises("exceeds the limit", shoal.send, svc, "lua", "blob", big)
	t.raises("exceeds the limit", shoal.call, svc, "lua", "echo", big)
	big = nil
	collectgarbage()
	-- a lower limit (process-wide: restore it)
	serial.setlimit(1000)
	local ok, err = pcall(function()
		t.raises("exceeds the limit of 1000 bytes", shoal.packstring, string.rep("q", 1000))
		t.raises("exceeds the limit", shoal.packstring, { string.rep("q", 500), string.rep("q", 500) })
		t.eq(#shoal.packstring(string.rep("q", 900)), 900 + 4, "900 bytes fit")
	end)
	serial.setlimit(limit)
	t.ok(ok, err)
	t.values(table.pack(shoal.call(svc, "lua", "echo", "ok")), table.pack("ok"), "call after")
	shoal.kill(svc)
end

function cases.malformed_input_raises()
	local s = shoal.packstring({ 1, 2, 3, name = "abc" }, "tail")
	for cut = 1, #s - 1 do
		t.raises("unserialize", shoal.unpack, s:sub(1, cut))
	end
	t.raises("unserialize", shoal.unpack, s .. "x")
	t.raises("unserialize", shoal.unpack, "\1\xdd")
end

t.start(cases, {
	"scalars_roundtrip",
	"nested_tables_roundtrip",
	"roundtrip_through_another_service",
	"unpackable_values_raise",
	"cycles_raise",
	"too_deep_raises",
	"over_the_size_limit_raises",
	"malformed_input_raises",
})
