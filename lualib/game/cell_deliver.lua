-- game/cell_deliver.lua - how a space's events reach the clients: the
-- cellapp's `deliver(mailbox, kind, data)` for game/space.lua (docs/cellapp.md,
-- "What one tick costs"). Each message goes to the entity's baseapp
-- (`send(account, body, from)`; body: one frame or a list of frames).
local shoal = require "shoal"
local proto = require "game.proto"

local AOI_CHUNK = 3855 * 17 -- records (17 bytes each) per AOI message: a frame stays under 65,535 bytes

local function text_of(v)
	if type(v) == "string" then
		return v
	end
	return tostring(v)
end

-- PROP frames for the watchers that are not the subject, by record (the
-- records die with their tick, and their frames with them).
local prop_frames = setmetatable({}, { __mode = "k" })

-- How the space's events leave: client messages through the entity's
-- baseapp (its `send(account, body)` command; body: one frame or a list).
return function(m, kind, data)
	if m == nil then
		return
	end
	local function out(body)
		shoal.send(m.baseapp, "lua", "send", m.account, body, shoal.self()) -- from: a stale copy's is dropped
	end
	if kind == "aoi" then
		for i = 1, #data, AOI_CHUNK do
			out(proto.encode("AOI", data:sub(i, i + AOI_CHUNK - 1)))
		end
	elseif kind == "props" then
		-- One message per watcher and tick, a list of PROP frames; a
		-- record's frame for others is encoded once (records are shared by
		-- the watchers, game/space.lua).
		local frames = {}
		for i, p in ipairs(data) do
			local own = p[1] == m.account
			local f = not own and prop_frames[p]
			if not f then
				f = proto.encode("PROP", p[1], own and 1 or 0, p[2], text_of(p[3]):sub(1, 60000))
				if not own then
					prop_frames[p] = f
				end
			end
			frames[i] = f
		end
		out(frames)
	elseif kind == "refused" then
		out(proto.encode("REFUSED", proto.refusals[data.why] or proto.refusals.malformed, data.x, data.y,
			tostring(data.why)))
	end
end

