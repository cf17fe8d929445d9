-- shoal/etcd.lua - a small client of etcd's v3 API through its JSON gateway
-- (HTTP/1.0 POST of JSON to /v3/..., keys and values base64), over the
-- node's socket API: no gRPC library.
--
--   local etcd = require "shoal.etcd"
--   local c = etcd.new{endpoints = {"127.0.0.1:2379", ...}, timeout = 1000}
--   local reply, err = c:post("/v3/kv/range", {key = etcd.b64("k")})
--   -- reply: the decoded JSON; nil, err ("no etcd member answered ...") when no
--   -- endpoint answered within its timeout
--   local w = c:watch(body, fn)  -- fn(response.result) per streamed message;
--                                -- w:close(); reconnects are the caller's job
--
-- Every request is bounded: at most `timeout` ms per endpoint, each
-- endpoint tried twice at most, starting with the one that answered last.

local shoal = require "shoal"
local socket = require "shoal.socket"
local cjson = require "cjson"

local etcd = {}
local client = {}
client.__index = client

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local DEC = {}
for i = 1, 64 do
	DEC[B64:byte(i)] = i - 1
end

function etcd.b64(s)
	local out = {}
	for i = 1, #s, 3 do
		local a, b, c = s:byte(i, i + 2)
		local n = (a << 16) | ((b or 0) << 8) | (c or 0)
		local k = #out
		out[k + 1] = B64:sub((n >> 18) + 1, (n >> 18) + 1)
		out[k + 2] = B64:sub(((n >> 12) & 63) + 1, ((n >> 12) & 63) + 1)
		out[k + 3] = b and B64:sub(((n >> 6) & 63) + 1, ((n >> 6) & 63) + 1) or "="
		out[k + 4] = c and B64:sub((n & 63) + 1, (n & 63) + 1) or "="
	end
	return table.concat(out)
end

function etcd.unb64(s)
	local out, n, bits = {}, 0, 0
	for i = 1, #s do
		local v = DEC[s:byte(i)]
		if v then
			n, bits = (n << 6) | v, bits + 6
			if bits >= 8 then
				bits = bits - 8
				out[#out + 1] = string.char((n >> bits) & 255)
			end
		end
	end
	return table.concat(out)
end

-- The key just after every key with this prefix (a range_end).
function etcd.prefix_end(p)
	return p:sub(1, -2) .. string.char(p:byte(-1) + 1)
end

-- endpoints: a list or a comma-separated string of host:port.
function etcd.new(opts)
	local eps = opts.endpoints
	if type(eps) == "string" then
		local list = {}
		for ep in eps:gmatch("[^,%s]+") do
			list[#list + 1] = ep
		end
		eps = list
	end
	if type(eps) ~= "table" or #eps == 0 then
		error("etcd: no endpoints (host:port,...)", 2)
	end
	local parsed = {}
	for _, ep in ipairs(eps) do
		local host, port = ep:match("^(.+):(%d+)$")
		if not host or tonumber(port) < 1 or tonumber(port) > 65535 then
			error("etcd: bad endpoint '" .. tostring(ep) .. "' (host:port)", 2)
		end
		parsed[#parsed + 1] = { host = host, port = tonumber(port), text = ep }
	end
	return setmetatable({ endpoints = parsed, timeout = opts.timeout or 1000, current = 1 }, client)
end

local function request_text(ep, path, body)
	local json = cjson.encode(body)
	return string.format("POST %s HTTP/1.0\r\nHost: %s\r\nContent-Type: application/json\r\n" ..
		"Content-Length: %d\r\n\r\n%s", path, ep.text, #json, json)
end

-- One request to one endpoint: the decoded body, or nil, err.
local function post_one(ep, path, body, ms)
	local deadline = shoal.now() + ms
	local id, err = socket.connect(ep.host, ep.port, ms)
	if not id then
		return nil, ep.text .. ": " .. tostring(err)
	end
	socket.write(id, request_text(ep, path, body))
	local left = deadline - shoal.now()
	local data, rerr = nil, "timeout"
	if left > 0 then
		data, rerr = socket.readall(id, left)
	end
	socket.close(id)
	if not data then
		return nil, ep.text .. ": " .. tostring(rerr)
	end
	local status, rest = data:match("^HTTP/1%.%d (%d+)[^\r\n]*\r\n.-\r\n\r\n(.*)$")
	if not status then
		return nil, ep.text .. ": not an HTTP answer"
	end
	local ok, reply = pcall(cjson.decode, rest)
	if not ok or type(reply) ~= "table" then
		return nil, ep.text .. ": HTTP " .. status .. ", not JSON"
	end
	if status ~= "200" then
		-- etcd's own refusal (e.g. a lease not found): an answer, not an outage
		return nil, ep.text .. ": HTTP " .. status .. ": " .. tostring(reply.error or reply.message), reply
	end
	return reply
end

-- The reply of the first endpoint that answers; nil, "unavailable: ..."
-- (or nil, err, body for an error etcd answered).
-- Two rounds over the members, so a request made while the cluster
-- elects a new leader (a member died) waits for it instead of failing:
-- at most 2 * #endpoints * timeout ms in all. (A request that timed out
-- may have been applied: register and keepalive are safe to repeat.)
function client:post(path, body)
	local n, errs = #self.endpoints, {}
	for k = 0, 2 * n - 1 do
		if k == n then
			shoal.sleep(50)
		end
		local i = (self.current - 1 + k) % n + 1
		local reply, err, refused = post_one(self.endpoints[i], path, body, self.timeout)
		if reply then
			self.current = i
			return reply
		end
		if refused then
			self.current = i
			return nil, err, refused
		end
		if k < n then
			errs[#errs + 1] = err
		end
	end
	return nil, "no etcd member answered within " .. self.timeout .. " ms, twice (" ..
		table.concat(errs, "; ") .. ")"
end

-- A watch stream on one endpoint (the current one first, then the next
-- ones): fn(result) for every streamed message; on_end(err) once the
-- stream ends (the endpoint died, or close()). Returns the watch handle.
function client:watch(body, fn, on_end)
	local w = { closed = false }
	local n = #self.endpoints
	shoal.fork(function()
		local id, err
		for k = 0, n - 1 do
			local i = (self.current - 1 + k) % n + 1
			local ep = self.endpoints[i]
			id, err = socket.connect(ep.host, ep.port, self.timeout)
			if id then
				socket.write(id, request_text(ep, "/v3/watch", { create_request = body }))
				break
			end
		end
		if not id or w.closed then
			if id then
				socket.close(id)
			end
			return on_end(err or "closed")
		end
		w.id = id
		local header = true
		while not w.closed do
			local line, rerr = socket.readline(id, "\n")
			if not line then
				err = rerr
				break
			end
			if header then
				if line == "\r" or line == "" then
					header = false
				end
			elseif line ~= "" then
				local ok, msg = pcall(cjson.decode, line)
				if ok and type(msg) == "table" and msg.result then
					fn(msg.result)
				elseif ok and type(msg) == "table" and msg.error then
					err = "watch error: " .. tostring(msg.error.message or msg.error)
					break
				end
			end
		end
		socket.close(id)
		on_end(w.closed and "closed" or tostring(err))
	end)
	function w.close()
		w.closed = true
		if w.id then
			socket.close(w.id)
		end
	end
	return w
end

return etcd
