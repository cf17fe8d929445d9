-- A stand-in for lualib/game/space.lua (brute-force AOI, pure Lua) with the
-- same API, for the cellapp's tests until the real library lands: it is
-- on the tests' lualib path after lualib/, so the real one wins once it
-- exists. Not for production: O(n^2) per tick.
local serial = require "shoal.serial"

local space = {}
local mt = {}
mt.__index = mt

local function opts_of(o)
	return { id = o.id, width = o.width, height = o.height, radius = o.radius, max_speed = o.max_speed or 0 }
end

function space.new(o)
	assert(type(o) == "table" and o.width and o.height and o.radius, "space.new: width, height, radius")
	return setmetatable({ opts = opts_of(o), deliver = o.deliver, ents = {}, views = {}, moved = {}, props = {},
		n = 0, st = { entities = 0, moves = 0, refused = {}, events = 0, queued = 0 } }, mt)
end

local function bad(x)
	return type(x) ~= "number" or x ~= x or x == math.huge or x == -math.huge
end

function mt:check(x, y)
	if bad(x) or bad(y) then
		return "not a number"
	end
	if x < 0 or y < 0 or x >= self.opts.width or y >= self.opts.height then
		return "out of bounds"
	end
end

function mt:enter(eid, e)
	if self.ents[eid] then
		return nil, "duplicate id"
	end
	local why = self:check(e.x, e.y)
	if why then
		return nil, why
	end
	self.ents[eid] = { x = e.x, y = e.y, dir = e.dir or 0, public = e.public or {}, owner = e.owner or {},
		mailbox = e.mailbox, at = nil }
	self.views[eid] = {}
	self.n = self.n + 1
	return true
end

function mt:leave(eid)
	if not self.ents[eid] then
		return false
	end
	self.ents[eid], self.n = nil, self.n - 1
	return true
end

function mt:move(eid, x, y, dir, now)
	local e = self.ents[eid]
	local why
	if not e then
		return nil, "unknown entity"
	end
	why = self:check(x, y)
	if not why and self.opts.max_speed > 0 and e.at then
		local d = math.sqrt((x - e.x) ^ 2 + (y - e.y) ^ 2)
		local dt = (now - e.at) / 1000
		if d > 0.5 and (dt <= 0 or d / dt > self.opts.max_speed * 1.1 + 0.5) then
			why = "too fast"
		end
	end
	if why then
		self.st.refused[why] = (self.st.refused[why] or 0) + 1
		if self.deliver then
			self.deliver(e.mailbox, "refused", { x = e.x, y = e.y, why = why })
		end
		return nil, why
	end
	e.x, e.y, e.dir, e.at = x, y, bad(dir) and e.dir or dir, now
	self.moved[eid] = true
	self.st.moves = self.st.moves + 1
	return true
end

function mt:set_prop(eid, key, value, scope)
	local e = self.ents[eid]
	if not e then
		return nil, "unknown entity"
	end
	if scope ~= "public" and scope ~= "owner" then
		return nil, "bad scope"
	end
	e[scope][key] = value
	self.props[#self.props + 1] = { eid, key, value, scope }
	return true
end

function mt:set_mailbox(eid, m)
	if self.ents[eid] then
		self.ents[eid].mailbox = m
	end
end

function mt:tick()
	local r2 = self.opts.radius * self.opts.radius
	for w, we in pairs(self.ents) do
		local old, new, out = self.views[w] or {}, {}, {}
		for s, se in pairs(self.ents) do
			if s ~= w and (se.x - we.x) ^ 2 + (se.y - we.y) ^ 2 <= r2 then
				new[s] = true
				if not old[s] then
					out[#out + 1] = string.pack(">BI8ff", 1, s, se.x, se.y)
				elseif self.moved[s] then
					out[#out + 1] = string.pack(">BI8ff", 3, s, se.x, se.y)
				end
			end
		end
		for s in pairs(old) do
			if not new[s] then
				local se = self.ents[s]
				out[#out + 1] = string.pack(">BI8ff", 2, s, se and se.x or 0, se and se.y or 0)
			end
		end
		self.views[w] = new
		if #out > 0 and self.deliver then
			self.st.events = self.st.events + #out
			self.deliver(we.mailbox, "aoi", table.concat(out))
		end
		local props = {}
		for _, p in ipairs(self.props) do
			if p[1] == w or (p[4] == "public" and new[p[1]]) then
				props[#props + 1] = { p[1], p[2], p[3] }
			end
		end
		if #props > 0 and self.deliver then
			self.deliver(we.mailbox, "props", props)
		end
	end
	for w in pairs(self.views) do
		if not self.ents[w] then
			self.views[w] = nil
		end
	end
	self.moved, self.props = {}, {}
end

function mt:entity(eid)
	local e = self.ents[eid]
	if e then
		return { x = e.x, y = e.y, dir = e.dir, public = e.public, owner = e.owner }
	end
end

function mt:entities()
	local out = {}
	for eid in pairs(self.ents) do
		out[#out + 1] = eid
	end
	table.sort(out)
	return out
end

function mt:count()
	return self.n
end

function mt:snapshot()
	local ents = {}
	for eid, e in pairs(self.ents) do
		ents[eid] = { x = e.x, y = e.y, dir = e.dir, public = e.public, owner = e.owner }
	end
	return serial.packstring { opts = self.opts, ents = ents }
end

function space.restore(o, snap)
	local t = serial.unpackstring(snap)
	local oo = opts_of(t.opts)
	oo.deliver = o.deliver
	local s = space.new(oo)
	for eid, e in pairs(t.ents) do
		s:enter(eid, e)
	end
	return s
end

function mt:stats()
	self.st.entities = self.n
	return self.st
end

return space
