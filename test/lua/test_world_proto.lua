-- test_world_proto: the world messages of lualib/game/proto.lua produce
-- exactly the bytes of docs/protocol.md section 6.2's worked examples
-- (printed from the doc's side by `python3 test/e2e/worldbot.py`), and
-- client bytes that do not fit (short, long, NaN) decode as the doc says.
local shoal = require "shoal"
local t = require "testlib"
local proto = require "game.proto"

local function hex(s)
	return (s:gsub(".", function(c)
		return string.format("%02x", c:byte())
	end))
end

local function frame(body)
	return hex(string.pack(">s2", body))
end

local cases = {}

function cases.vectors()
	local rec = string.pack(">BI8ff", 1, 7, 12.5, 40.0)
	t.eq(#rec, 17, "an AOI record is 17 bytes")
	t.eq(frame(proto.encode("WALK", 12.5, 40.0, 1.5)), "000e010441480000422000003fc00000", "WALK")
	t.eq(frame(proto.encode("WORLD", "world", 1000, 1000, 50, 500, 500, 0)),
		"002101050005776f726c64447a0000447a00004248000043fa000043fa000000000000", "WORLD")
	t.eq(frame(proto.encode("AOI", rec)), "0015010600110100000000000000074148000042200000", "AOI")
	t.eq(frame(proto.encode("PROP", 7, 1, "gold", "42")), "001501070000000000000007010004676f6c6400023432", "PROP")
	t.eq(frame(proto.encode("SET_PROP", 1, "gold", "42")), "000d0108010004676f6c6400023432", "SET_PROP")
	t.eq(frame(proto.encode("REFUSED", proto.refusals["too fast"], 500.0, 500.0, "too fast")),
		"001501090343fa000043fa00000008746f6f2066617374", "REFUSED")
	t.eq(frame(proto.encode("WHERE")), "0002010a", "WHERE")
	t.eq(frame(proto.encode("HERE", 5, 5, 12.5, 40.0, 1.5)), "0016010b000000050000000541480000422000003fc00000",
		"HERE")
end

function cases.client_bytes()
	local name, m = proto.decode(string.pack(">I2fff", 0x0104, 0 / 0, math.huge, 1))
	t.eq(name, "WALK", "a WALK with NaN and inf decodes (the cellapp refuses it)")
	t.ok(m.x ~= m.x and m.y == math.huge, "NaN and inf kept")
	local bad, why = proto.decode(string.pack(">I2ff", 0x0104, 1, 2))
	t.eq(bad, nil, "a short WALK")
	t.contains(why, "malformed WALK", "why")
	bad = proto.decode(string.pack(">I2fffB", 0x0104, 1, 2, 3, 0))
	t.eq(bad, nil, "a WALK with a byte left over")
	bad = proto.decode(string.pack(">I2Bs2", 0x0108, 1, "k"))
	t.eq(bad, nil, "a SET_PROP without its value")
	for id = proto.WORLD_FIRST, proto.WORLD_LAST do
		t.ok(proto.names[id] == nil or proto.ids[proto.names[id]] == id, "ids are one way")
	end
end

t.start(cases, { "vectors", "client_bytes" })
