-- game/report.lua - the lines a game service shows in the debug console's
-- game commands (players, spaces, entity ID, failover: docs/console.md,
-- "Game state"), in one format: "key=value" pairs in key order.
--
--   local report = require "game.report"
--   report.provide("spaces", function() return lines, n end)  -- shoal.debug's provide
--   report.fields { x = 1.5, name = "bot1" }    -> "name=bot1 x=1.5"
--   report.value(v)                             -> v as one short word (tables as {k=v,...})

local report = {}

local MAX = 120 -- characters of one value shown

function report.value(v)
	local t = type(v)
	if t == "number" then
		if math.type(v) == "float" then
			return string.format("%.2f", v)
		end
		return tostring(v)
	elseif t == "table" then
		local keys = {}
		for k in pairs(v) do
			keys[#keys + 1] = k
		end
		table.sort(keys, function(a, b)
			return tostring(a) < tostring(b)
		end)
		local parts = {}
		for _, k in ipairs(keys) do
			local inner = v[k]
			parts[#parts + 1] = tostring(k) .. "=" .. (type(inner) == "table" and "{...}" or report.value(inner))
		end
		local s = "{" .. table.concat(parts, ",") .. "}"
		return #s > MAX and s:sub(1, MAX) .. "...}" or s
	end
	local s = tostring(v):gsub("[%c ]", "_")
	return #s > MAX and s:sub(1, MAX) .. "..." or s
end

function report.fields(t)
	local keys = {}
	for k in pairs(t) do
		keys[#keys + 1] = k
	end
	table.sort(keys)
	local parts = {}
	for _, k in ipairs(keys) do
		parts[#parts + 1] = k .. "=" .. report.value(t[k])
	end
	return table.concat(parts, " ")
end

function report.provide(topic, fn)
	require("shoal.debug").provide(topic, fn)
end

return report
