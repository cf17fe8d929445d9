-- shoal/http.lua - the small HTTP/1.x server side of the node's endpoint
-- (service/metrics.lua: GET /metrics, the dashboard and its JSON API).
-- One request per connection (Connection: close), a bounded head, a read
-- deadline; nothing else of HTTP (no body, no keep-alive, no chunks).
--
--   local http = require "shoal.http"
--   local head, status = http.read_head(id, max_bytes, read_ms)
--                     -- the head (up to the blank line), or nil and the status
--                     -- to answer (431, 408; nil: the client closed)
--   local method, target = http.request_line(head)  -- or nil
--   http.respond(id, code, body [, content_type [, extra_headers]])  -- and closes
--   local host, port = http.parse_listen(spec, key) -- "HOST:PORT", "[V6]:PORT", "PORT"

local shoal = require "shoal"
local socket = require "shoal.socket"

local http = {}

http.REASONS = {
	[200] = "OK",
	[301] = "Moved Permanently",
	[400] = "Bad Request",
	[404] = "Not Found",
	[405] = "Method Not Allowed",
	[408] = "Request Timeout",
	[414] = "URI Too Long",
	[431] = "Request Header Fields Too Large",
	[500] = "Internal Server Error",
	[503] = "Service Unavailable",
}

local LINGER_MS = 500 -- after an error: how long unread input is drained before the close

function http.respond(id, code, body, ctype, extra)
	local head = string.format("HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n%s\r\n",
		code, http.REASONS[code], ctype or "text/plain; charset=utf-8", #body, extra or "")
	socket.write(id, head .. body)
	if code >= 400 and code ~= 503 then -- a 503 is sent at once: nothing to drain, and floods end fast
		-- Closing with unread input would reset the connection, and the
		-- client might lose the answer: half-close, drain for a bounded
		-- time, then close.
		socket.shutdown(id)
		local deadline = shoal.now() + LINGER_MS
		while socket.isopen(id) do
			local left = deadline - shoal.now()
			if left <= 0 or not socket.read(id, nil, left) then
				break
			end
		end
	end
	socket.close(id)
end

function http.read_head(id, max_request, read_ms)
	local deadline = shoal.now() + read_ms
	local buf = ""
	while true do
		local e = buf:find("\r\n\r\n", 1, true) or buf:find("\n\n", 1, true)
		if e and e - 1 <= max_request then
			return buf:sub(1, e - 1)
		end
		if #buf > max_request then -- however it arrived: in pieces, or whole with its end past the bound
			return nil, 431
		end
		local left = deadline - shoal.now()
		if left <= 0 then
			return nil, 408
		end
		local data, err = socket.read(id, nil, left)
		if not data then
			if err == "timeout" then
				return nil, 408
			end
			return nil
		end
		buf = buf .. data
	end
end

-- "GET /path?q HTTP/1.1" -> "GET", "/path?q" (nil: not a request line)
function http.request_line(head)
	local method, target = head:match("^(%u+) (%S+) HTTP/1%.[01]\r?\n")
	if not method then
		method, target = head:match("^(%u+) (%S+) HTTP/1%.[01]$")
	end
	return method, target
end

function http.parse_listen(spec, key)
	local host, port = spec:match("^%[([^%]]+)%]:(%d+)$")
	if not host then
		host, port = spec:match("^([^:]+):(%d+)$")
	end
	if not host and spec:match("^%d+$") then
		host, port = "127.0.0.1", spec
	end
	port = tonumber(port)
	if not host or not port or port > 65535 then
		error(string.format("%s %q is not HOST:PORT or PORT", key, spec), 0)
	end
	return host, math.tointeger(port)
end

return http
