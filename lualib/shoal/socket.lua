-- shoal/socket.lua - sockets in blocking style, inside coroutines.
--
--   local socket = require "shoal.socket"
--   local lid = assert(socket.listen("127.0.0.1", 8000))
--   socket.start(lid, function(id, addr)      -- runs in a new coroutine per connection
--       socket.start(id)                      -- read it here (or hand id to another service)
--       local line = socket.readline(id)      -- nil, err when closed
--       socket.write(id, line .. "\n")
--       socket.close(id)
--   end)
--
-- Every blocking call returns nil/false plus a reason ("closed", "timeout",
-- the socket's error) instead of raising, and wakes up when the socket
-- closes, so no coroutine waits forever on a dead socket.

local shoal = require "shoal"
local driver = require "shoal.socketdriver"

local socket = {}
local sockets = {} -- id -> state (see new_state)

local function new_state(id)
	local s = {
		id = id,
		chunks = {}, -- received strings not yet read
		size = 0, -- bytes in chunks
		closed = false, -- no more data will come
		err = nil, -- why it closed, if not by a clean close
		waiting = nil, -- coroutine blocked on this socket
		on_accept = nil, -- listener callback
		connected = false,
	}
	sockets[id] = s
	return s
end

local function wake(s)
	local co = s.waiting
	if co then
		s.waiting, s.wait_token = nil, nil
		shoal.wakeup(co)
	end
end

-- Suspends the running coroutine until wake(s) or the deadline (ms on
-- shoal.now()'s clock; nil: none). Returns false once the deadline passed.
-- Each wait has its own token, so the timer of an earlier wait (woken by
-- data before it fired) never ends a later one early.
local function suspend(s, deadline)
	if s.waiting then
		error("socket " .. s.id .. ": another coroutine is already waiting on it", 3)
	end
	local token = { timed_out = false }
	s.waiting, s.wait_token = coroutine.running(), token
	if deadline then
		local left = deadline - shoal.now()
		if left <= 0 then
			s.waiting, s.wait_token = nil, nil
			return false
		end
		shoal.timeout(left, function()
			if s.wait_token == token then
				token.timed_out = true
				wake(s)
			end
		end)
	end
	shoal.wait()
	return not token.timed_out
end

-- A call's deadline from its timeout in ms (nil: waits without one).
local function deadline_of(timeout)
	return timeout and shoal.now() + timeout or nil
end

local handler = {}

handler[driver.DATA] = function(id, size, data)
	local s = sockets[id]
	if s == nil then
		return -- not managed here (abandoned): drop
	end
	s.chunks[#s.chunks + 1] = data
	s.size = s.size + size
	wake(s)
end

handler[driver.CONNECT] = function(id)
	local s = sockets[id]
	if s then
		s.connected = true
		wake(s)
	end
end

handler[driver.CLOSE] = function(id)
	local s = sockets[id]
	if s then
		s.closed = true
		wake(s)
	end
end

handler[driver.ERROR] = function(id, _, why)
	local s = sockets[id]
	if s then
		s.closed = true
		s.err = why or "socket error"
		wake(s)
	end
end

handler[driver.ACCEPT] = function(id, newid, addr)
	local s = sockets[id]
	if s == nil or s.on_accept == nil then
		driver.close(newid)
		return
	end
	shoal.fork(s.on_accept, newid, addr)
end

handler[driver.WARNING] = function(id, kb)
	shoal.warn(string.format("socket %d: %d KB waiting to be sent (the peer is slow)", id, kb))
end

handler[driver.UDP] = function(id, size, data, from)
	local s = sockets[id]
	if s and s.on_udp then
		shoal.fork(s.on_udp, data, from)
	end
end

shoal.register_protocol {
	name = "socket",
	id = shoal.PTYPE_SOCKET,
	unpack = driver.unpack,
	dispatch = function(_, _, t, id, ud, data, from)
		local h = handler[t]
		if h then
			h(id, ud, data, from)
		end
	end,
}

-- Listens on host:port; returns the listener id, or nil and the reason.
function socket.listen(host, port, backlog)
	return driver.listen(host, port, backlog)
end

-- For a listener: start accepting, calling on_accept(id, addr) in a new
-- coroutine for each connection. For a connection (accepted here or handed
-- over by another service): start reading it in this service.
function socket.start(id, on_accept)
	local s = sockets[id] or new_state(id)
	s.on_accept = on_accept
	return driver.start(id)
end

-- Connects; returns the id, or nil and the reason (refused, timeout).
function socket.connect(host, port, timeout)
	local id, err = driver.connect(host, port)
	if not id then
		return nil, err
	end
	local s = new_state(id)
	local deadline = deadline_of(timeout)
	while not s.connected and not s.closed do
		if not suspend(s, deadline) then
			socket.close(id)
			return nil, "timeout"
		end
	end
	if not s.connected then
		sockets[id] = nil
		return nil, s.err or "connection closed"
	end
	return id
end

local function take(s, n)
	local all = table.concat(s.chunks)
	if n == nil or n >= #all then
		s.chunks, s.size = {}, 0
		return all
	end
	s.chunks = { all:sub(n + 1) }
	s.size = #all - n
	return all:sub(1, n)
end

local function closed_reason(s)
	return s.err or "closed"
end

-- Waits until got(s) returns data (returned), the socket closes (nil, the
-- reason and the bytes read so far) or the timeout in ms passes (nil,
-- "timeout").
local function read_with(id, timeout, got)
	local s = sockets[id]
	if s == nil then
		return nil, "unknown socket"
	end
	local deadline = deadline_of(timeout)
	while true do
		local data = got(s)
		if data then
			return data
		end
		if s.closed then
			return nil, closed_reason(s), take(s)
		end
		if not suspend(s, deadline) then
			return nil, "timeout"
		end
	end
end

-- Reads exactly n bytes, or (n nil) whatever has arrived (at least one
-- byte). Returns the data, or nil and the reason plus the bytes read so far
-- when the socket closed first or the timeout (ms) passed.
function socket.read(id, n, timeout)
	return read_with(id, timeout, function(s)
		if n == nil then
			return s.size > 0 and take(s) or nil
		end
		return s.size >= n and take(s, n) or nil
	end)
end

-- Reads a line ending with sep (default "\n"); returns it without sep.
function socket.readline(id, sep, timeout)
	sep = sep or "\n"
	return read_with(id, timeout, function(s)
		if s.size == 0 then
			return nil
		end
		local all = table.concat(s.chunks)
		local i = all:find(sep, 1, true)
		if i == nil then
			s.chunks = { all }
			return nil
		end
		s.chunks = { all:sub(i + #sep) }
		s.size = #all - (i + #sep - 1)
		return all:sub(1, i - 1)
	end)
end

-- Reads until the peer closes; returns everything.
function socket.readall(id, timeout)
	local s = sockets[id]
	if s == nil then
		return nil, "unknown socket"
	end
	local deadline = deadline_of(timeout)
	while not s.closed do
		if not suspend(s, deadline) then
			return nil, "timeout"
		end
	end
	return take(s)
end

-- Writes data; returns true, or false and the reason.
function socket.write(id, data)
	return driver.send(id, data)
end

-- Closes (pending writes are flushed first) and forgets the socket.
function socket.close(id)
	driver.close(id)
	local s = sockets[id]
	if s then
		s.closed = true
		s.err = s.err or "closed"
		wake(s)
		sockets[id] = nil
	end
end

-- Half-close: no more writes; reading goes on until the peer closes.
function socket.shutdown(id)
	driver.shutdown(id)
end

-- Stops managing id here without closing it (to hand it to another service).
function socket.abandon(id)
	sockets[id] = nil
end

function socket.nodelay(id)
	driver.nodelay(id)
end

-- Is the socket open (not closed by either side)?
function socket.isopen(id)
	local s = sockets[id]
	return s ~= nil and not s.closed
end

-- UDP: socket.udp(on_message, host, port) -> id; on_message(data, from)
-- runs in a new coroutine per datagram. socket.sendto(id, host, port, data).
function socket.udp(on_message, host, port)
	local id, err = driver.udp(host, port or 0)
	if not id then
		return nil, err
	end
	local s = new_state(id)
	s.on_udp = on_message
	return id
end

function socket.sendto(id, host, port, data)
	return driver.udpsend(id, host, port, data)
end

-- Open sockets of the node (for the debug console).
socket.info = driver.info

return socket
