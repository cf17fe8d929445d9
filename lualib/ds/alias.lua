-- ds/alias.lua - aliases of the dscontroller (docs/dsagent.md, "Aliases"):
-- an alias names one fleet, or a weighted split between two (a canary).
-- Picks follow the smooth weighted round robin, so over any n picks each
-- fleet gets its exact share to within one pick (no randomness to average
-- out: a 10 % canary is 10 % of every 10 allocations).
--
--   local alias = require "ds.alias"
--   local a = alias.new()
--   a:set("arena", "arena-v1")                                -> true | nil, err
--   a:set("arena", { {"arena-v1", 90}, {"arena-v2", 10} })     -> true | nil, err
--   a:pick("arena") -> fleet | nil (no such alias)
--   a:remove("arena") -> true | nil, err     a:list() -> {name = "fleet" | "a:90,b:10"}
--   a:restore(list)   the aliases of a list() (a standby taking over), replacing these
local alias = {}
local A = {}
A.__index = A

local NAME = "^[%w_.-]+$"

function alias.new()
	return setmetatable({ map = {} }, A)
end

local function check_name(what, v)
	if type(v) ~= "string" or #v == 0 or #v > 64 or not v:match(NAME) then
		return nil, string.format("%s must be 1-64 letters, digits, '_', '.' or '-'", what)
	end
	return true
end

function A:set(name, target)
	local ok, err = check_name("an alias name", name)
	if not ok then
		return nil, err
	end
	local split = {}
	if type(target) == "string" then
		ok, err = check_name("a fleet name", target)
		if not ok then
			return nil, err
		end
		split[1] = { fleet = target, weight = 1, current = 0 }
	elseif type(target) == "table" then
		if #target < 1 or #target > 2 then
			return nil, "a split names one or two fleets"
		end
		for i, e in ipairs(target) do
			local fleet, weight = e[1] or e.fleet, e[2] or e.weight
			ok, err = check_name("a fleet name", fleet)
			if not ok then
				return nil, err
			end
			if math.type(weight) ~= "integer" or weight < 0 or weight > 100 then
				return nil, string.format("the weight of %s must be an integer 0..100", fleet)
			end
			if i == 2 and fleet == split[1].fleet then
				return nil, "a split names two different fleets"
			end
			split[i] = { fleet = fleet, weight = weight, current = 0 }
		end
		if (split[1].weight + (split[2] and split[2].weight or 0)) == 0 then
			return nil, "a split needs a weight above 0"
		end
	else
		return nil, "an alias maps to a fleet name or {{fleet, weight}, {fleet, weight}}"
	end
	self.map[name] = split
	return true
end

function A:remove(name)
	if self.map[name] == nil then
		return nil, "no alias " .. tostring(name)
	end
	self.map[name] = nil
	return true
end

-- The next fleet of alias name (smooth weighted round robin).
function A:pick(name)
	local split = self.map[name]
	if split == nil then
		return nil
	end
	if #split == 1 then
		return split[1].fleet
	end
	local total, best = 0, nil
	for _, e in ipairs(split) do
		e.current = e.current + e.weight
		total = total + e.weight
		if best == nil or e.current > best.current then
			best = e
		end
	end
	best.current = best.current - total
	return best.fleet
end

function A:list()
	local out = {}
	for name, split in pairs(self.map) do
		if #split == 1 and split[1].weight == 1 then
			out[name] = split[1].fleet
		else
			local parts = {}
			for i, e in ipairs(split) do
				parts[i] = e.fleet .. ":" .. e.weight
			end
			out[name] = table.concat(parts, ",")
		end
	end
	return out
end

function A:restore(list)
	self.map = {}
	for name, target in pairs(list) do
		if type(target) == "string" then -- (set checks the rest)
			local split = {}
			for fleet, weight in target:gmatch("([^,:]+):(%d+)") do
				split[#split + 1] = { fleet, math.tointeger(tonumber(weight)) }
			end
			self:set(name, #split > 0 and split or target)
		end
	end
end

return alias
