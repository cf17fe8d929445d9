-- test_libs: the system Lua C modules (cjson, lpeg) load inside services.
local shoal = require "shoal"
local t = require "testlib"

local cases = {}

function cases.cjson_here()
	local cjson = require "cjson"
	local doc = { name = "shoal", list = { 1, 2, 3 }, nested = { ok = true, half = 0.5 } }
	local text = cjson.encode(doc)
	t.eq(type(text), "string", "encoded")
	-- (this cjson decodes every number as a float)
	t.similar(cjson.decode(text), doc, "decoded")
	t.similar(cjson.decode('{"a":[1,"two",{"b":null}],"c":false}'), { a = { 1, "two", { b = cjson.null } }, c = false },
		"decoded literal")
	t.raises("Expected", cjson.decode, "{bad json")
end

function cases.lpeg_here()
	local lpeg = require "lpeg"
	local word = lpeg.C(lpeg.R("az") ^ 1)
	local words = lpeg.Ct(word * (lpeg.P(" ") ^ 1 * word) ^ 0)
	t.same(words:match("hello shoal  world"), { "hello", "shoal", "world" }, "words")
	t.eq(lpeg.match(lpeg.P("ab") * -1, "abc"), nil, "no match")
	t.eq(lpeg.match(lpeg.P("ab"), "abc"), 3, "match position")
end

function cases.in_other_services()
	-- two services load the same C modules (each its own Lua state)
	local a = shoal.newservice("libs_svc")
	local b = shoal.newservice("libs_svc")
	for _, svc in ipairs({ a, b }) do
		local doc = { id = svc, tags = { "x", "y" }, deep = { deeper = { n = 42 } } }
		local back, text = shoal.call(svc, "lua", "json_roundtrip", doc)
		t.similar(back, doc, "json round trip in " .. shoal.address(svc))
		t.contains(text, '"deeper"', "json text")
		t.same(shoal.call(svc, "lua", "match", "10,20,300"), { 10, 20, 300 }, "lpeg in " .. shoal.address(svc))
		t.eq(shoal.call(svc, "lua", "match", "10,,20"), nil, "lpeg mismatch")
	end
	shoal.kill(a)
	shoal.kill(b)
end

t.start(cases, { "cjson_here", "lpeg_here", "in_other_services" })
