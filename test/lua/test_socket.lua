-- test_socket: the blocking-style socket API (shoal.socket) over real
-- sockets on 127.0.0.1. Run with SHOAL_MAX_SOCKETS=64 (see CMakeLists.txt)
-- so the socket cap can be reached.
local shoal = require "shoal"
local socket = require "shoal.socket"
local t = require "testlib"

local cases = {}

-- A listener on an ephemeral port; returns its id and port.
local function listen(on_accept)
	local lid = assert(socket.listen("127.0.0.1", 0))
	socket.start(lid, on_accept)
	for _, s in ipairs(socket.info()) do
		if s.id == lid then
			return lid, tonumber(s.peer:match(":(%d+)$"))
		end
	end
	error("listener not in socket.info()")
end

-- An echo server for lines; closes when the client does.
local function line_echo()
	return listen(function(id)
		socket.start(id)
		while true do
			local line = socket.readline(id)
			if not line then
				break
			end
			socket.write(id, line .. "\n")
		end
		socket.close(id)
	end)
end

function cases.connect_write_readline()
	local lid, port = line_echo()
	local c = assert(socket.connect("127.0.0.1", port, 1000))
	assert(socket.write(c, "one\ntwo\n"))
	t.eq(socket.readline(c), "one", "first line")
	t.eq(socket.readline(c), "two", "second line")
	-- a line split over many writes
	for ch in ("split-line\n"):gmatch(".") do
		socket.write(c, ch)
	end
	t.eq(socket.readline(c), "split-line", "line written byte by byte")
	socket.close(c)
	socket.close(lid)
end

function cases.read_exact_and_readall()
	local lid, port = listen(function(id)
		socket.start(id)
		socket.write(id, ("x"):rep(100000))
		socket.write(id, "tail")
		socket.close(id) -- flushes first
	end)
	local c = assert(socket.connect("127.0.0.1", port, 1000))
	local head = socket.read(c, 10)
	t.eq(head, ("x"):rep(10), "read(10)")
	local rest = socket.readall(c, 3000)
	t.eq(#rest, 100000 - 10 + 4, "readall length")
	t.eq(rest:sub(-4), "tail", "readall ends with the last write")
	-- reading a closed socket returns nil and the reason, never blocks
	local data, why = socket.read(c, 1, 1000)
	t.eq(data, nil, "read after close")
	t.ok(why == "closed" or why == "unknown socket", "reason: " .. tostring(why))
	socket.close(c)
	socket.close(lid)
end

function cases.reader_woken_when_peer_closes()
	local server_side
	local lid, port = listen(function(id)
		socket.start(id)
		server_side = id
	end)
	local c = assert(socket.connect("127.0.0.1", port, 1000))
	t.wait_until(function() return server_side end, 2000, 10, "accepted")
	shoal.timeout(100, function()
		socket.close(server_side)
	end)
	local ms, r = t.timed(socket.read, c, 10) -- no timeout: only the close wakes it
	t.eq(r[2], nil, "read result")
	t.eq(r[3], "closed", "reason")
	t.between(ms, 50, 3000, "woken by the close (ms)")
	socket.close(c)
	socket.close(lid)
end

function cases.read_timeout()
	local lid, port = listen(function(id)
		socket.start(id)
	end)
	local c = assert(socket.connect("127.0.0.1", port, 1000))
	local ms, r = t.timed(socket.read, c, 1, 150)
	t.eq(r[3], "timeout", "reason")
	t.between(ms, 140, 2000, "timeout ms")
	socket.close(c)
	socket.close(lid)
end

-- The timeout bounds the whole call, not each wait: a peer that trickles a
-- byte every 40 ms (never the 100 asked for) does not keep a 200 ms read
-- waiting. Before, every byte restarted the timer, and the read lasted
-- until the trickle ended. The trickle is 30 bytes (1.2 s), so a read
-- that ends with fewer than 30 bytes ended on its own deadline.
function cases.read_timeout_bounds_the_whole_call()
	local sent = 0
	local lid, port = listen(function(id)
		socket.start(id)
		for _ = 1, 30 do
			if not socket.write(id, "x") then
				break
			end
			sent = sent + 1
			shoal.sleep(40)
		end
	end)
	local c = assert(socket.connect("127.0.0.1", port, 1000))
	local data, why = socket.read(c, 100, 200)
	t.eq(data, nil, "no 100 bytes")
	t.eq(why, "timeout", "reason")
	t.ok(sent < 30, "the read ended before the trickle did (" .. sent .. " bytes sent)")
	socket.close(c)
	socket.close(lid)
end

function cases.connect_refused_and_bad_args()
	-- a port nobody listens on: find one by opening and closing a listener
	local lid, port = listen(function() end)
	socket.close(lid)
	shoal.sleep(20)
	local id, err = socket.connect("127.0.0.1", port, 1000)
	t.eq(id, nil, "refused connect")
	t.contains(err, "refused", "reason")
	t.raises("port", socket.connect, "127.0.0.1", 70000)
	local bad, why = socket.listen("256.1.1.1", 0)
	t.eq(bad, nil, "listen on a bad address")
	t.ok(why, "listen gives a reason")
end

function cases.half_close_keeps_write_side()
	-- the client sends a request and shuts down its write side; the server
	-- still answers after seeing the end of the input
	local lid, port = listen(function(id)
		socket.start(id)
		local all = socket.readall(id, 3000)
		socket.write(id, "got " .. #all)
		socket.close(id)
	end)
	local c = assert(socket.connect("127.0.0.1", port, 1000))
	socket.write(c, "abcdef")
	socket.shutdown(c)
	t.eq(socket.readall(c, 3000), "got 6", "answer after half-close")
	socket.close(c)
	socket.close(lid)
end

function cases.many_connections_in_parallel()
	local lid, port = line_echo()
	local fns = {}
	for i = 1, 20 do
		fns[i] = function()
			local c = assert(socket.connect("127.0.0.1", port, 2000))
			for k = 1, 20 do
				local msg = string.format("conn %d msg %d", i, k)
				socket.write(c, msg .. "\n")
				t.eq(socket.readline(c, "\n", 3000), msg, "echo")
			end
			socket.close(c)
		end
	end
	local results = t.join(fns, 15000)
	for i, r in ipairs(results) do
		t.ok(r[1], "connection " .. i .. ": " .. tostring(r[2]))
	end
	socket.close(lid)
end

function cases.socket_limit_is_a_clear_error()
	-- max_sockets is 64 in this test: open connections until refused
	local lid, port = listen(function(id)
		socket.start(id)
	end)
	local opened, err = {}, nil
	for _ = 1, 100 do
		local c, why = socket.connect("127.0.0.1", port, 1000)
		if not c then
			err = why
			break
		end
		opened[#opened + 1] = c
	end
	t.ok(err, "the cap was reached")
	t.contains(err, "limit", "error names the limit")
	t.ok(#opened > 10 and #opened < 64, "opened " .. #opened .. " before the cap")
	for _, c in ipairs(opened) do
		socket.close(c)
	end
	-- after closing, connecting works again
	t.wait_until(function()
		local c = socket.connect("127.0.0.1", port, 1000)
		if c then
			socket.close(c)
			return true
		end
	end, 3000, 50, "connect after closing")
	socket.close(lid)
end

function cases.udp_round_trip()
	local got
	local me = coroutine.running()
	local server = assert(socket.udp(function(data, from)
		got = { data, from }
		shoal.wakeup(me)
	end, "127.0.0.1", 0))
	local port
	for _, s in ipairs(socket.info()) do
		if s.id == server then
			port = tonumber(s.peer:match(":(%d+)$"))
		end
	end
	local client = assert(socket.udp(function() end, "127.0.0.1", 0))
	assert(socket.sendto(client, "127.0.0.1", port, "datagram!"))
	if not got then
		shoal.sleep(2000) -- woken by the handler
	end
	t.ok(got, "datagram arrived")
	t.eq(got[1], "datagram!", "data")
	t.contains(got[2], "127.0.0.1:", "sender address")
	socket.close(server)
	socket.close(client)
end

function cases.net_info_counts_bytes()
	local lid, port = line_echo()
	local c = assert(socket.connect("127.0.0.1", port, 1000))
	socket.write(c, "12345\n")
	socket.readline(c)
	local found
	for _, s in ipairs(socket.info()) do
		if s.id == c then
			found = s
		end
	end
	t.ok(found, "client socket listed")
	t.eq(found.bytes_out, 6, "bytes out")
	t.eq(found.bytes_in, 6, "bytes in")
	t.eq(found.kind, "C", "connected")
	socket.close(c)
	socket.close(lid)
end

t.start(cases, {
	"connect_write_readline",
	"read_exact_and_readall",
	"reader_woken_when_peer_closes",
	"read_timeout",
	"read_timeout_bounds_the_whole_call",
	"connect_refused_and_bad_args",
	"half_close_keeps_write_side",
	"many_connections_in_parallel",
	"net_info_counts_bytes",
	"udp_round_trip",
	"socket_limit_is_a_clear_error",
})
