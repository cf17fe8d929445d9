-- shoal.lua - the API a Lua service uses.
--
-- Every incoming request runs in its own coroutine (taken from a pool), so a
-- handler can call other services and wait for them without blocking the
-- service. A call suspends the coroutine until the response, an error, or
-- its timeout; no call waits forever.

local c = require "shoal.core"

local cresume = c.resume
local csend = c.send
local csendraw = c.sendraw
local ctimeout = c.timeout
local cnow = c.now
local cocreate = coroutine.create
local running = coroutine.running
local yield = coroutine.yield
local traceback = c.traceback
local select = select
local type = type
local tostring = tostring
local string_format = string.format
local xpcall = xpcall

local PTYPE_RESPONSE = c.PTYPE_RESPONSE
local PTYPE_ERROR = c.PTYPE_ERROR
local PTYPE_LUA = c.PTYPE_LUA
local PTYPE_SYSTEM = c.PTYPE_SYSTEM
local ALLOC = c.SESSION_ALLOC

local shoal = {
	PTYPE_TEXT = c.PTYPE_TEXT,
	PTYPE_RESPONSE = PTYPE_RESPONSE,
	PTYPE_ERROR = PTYPE_ERROR,
	PTYPE_CLIENT = c.PTYPE_CLIENT,
	PTYPE_LUA = PTYPE_LUA,
	PTYPE_SOCKET = c.PTYPE_SOCKET,
	PTYPE_SYSTEM = PTYPE_SYSTEM,
	PTYPE_HARBOR = c.PTYPE_HARBOR,
	PTYPE_DEBUG = c.PTYPE_DEBUG,
}

-- Default call timeout in ms (config `call_timeout`).
local default_timeout = tonumber(c.getenv("call_timeout")) or 30000

----------------------------------------------------------------------------
-- Protocols: how a message type is packed, unpacked and dispatched.

local proto = {}

-- Registers {name=, id=, pack=, unpack=, dispatch=}; pack/unpack may be
-- omitted for "lua" (the C side serializes).
function shoal.register_protocol(p)
	assert(type(p.name) == "string" and type(p.id) == "number", "protocol needs a name and an id")
	proto[p.name] = p
	proto[p.id] = p
end

shoal.register_protocol {
	name = "lua",
	id = PTYPE_LUA,
	unpack = c.unpack,
}

shoal.register_protocol {
	name = "text",
	id = c.PTYPE_TEXT,
	pack = function(s) return s end,
	unpack = function(s) return s end,
}

-- Sets the handler of a protocol: fn(session, source, ...) whose return
-- values are the reply to a request (unless it answered with shoal.ret or
-- took a deferred shoal.response()).
function shoal.dispatch(name, fn)
	local p = assert(proto[name], "unknown protocol")
	local old = p.dispatch
	p.dispatch = fn
	return old
end

----------------------------------------------------------------------------
-- Coroutines and the per-request bookkeeping.

local session_co = {}     -- session -> coroutine (or internal function) awaiting a response
local co_session = {}     -- coroutine -> session of the request it is still to answer
local co_source = {}      -- coroutine -> source of that request
local co_rawproto = {}    -- coroutine -> protocol, when the request was not "lua"
local co_deferred = {}    -- coroutine -> true when the handler took shoal.response()
local deferred = {}       -- responder function -> {source, session} not yet answered
local wakeup_queue = {}   -- coroutines to resume at the end of this message
local fork_queue = {}     -- {co, fn, args} to start at the end of this message
local pool = {}           -- idle coroutines
local exit_hooks = {}     -- functions run on graceful shutdown
local exiting = false

local function error_text(e)
	if type(e) ~= "string" then
		e = tostring(e)
	end
	return e
end

local function log_error(msg)
	c.log(c.LOG_ERROR, msg)
end

-- Sends the reply of a request.
local function reply(source, session, p, ...)
	if p == nil then
		return csend(source, PTYPE_RESPONSE, session, ...)
	end
	return csendraw(source, PTYPE_RESPONSE, session, p.pack(...))
end

local function reply_error(source, session, text)
	return csendraw(source, PTYPE_ERROR, session, text)
end

-- Runs when a handler returns (ok) or raises (not ok).
local function finish(co, ok, ...)
	local session = co_session[co]
	if session then
		local source = co_source[co]
		co_session[co] = nil
		co_source[co] = nil
		local p = co_rawproto[co]
		if p then
			co_rawproto[co] = nil
		end
		if not ok then
			reply_error(source, session, error_text((...)))
		elseif co_deferred[co] then
			co_deferred[co] = nil
		else
			reply(source, session, p, ...)
		end
	elseif co_deferred[co] then
		co_deferred[co] = nil
	end
	if not ok then
		log_error(error_text((...)))
	end
end

-- The body of every pooled coroutine: run f, go back to the pool, and
-- wait for the next function (a tail call keeps the stack flat).
local function co_main(f, ...)
	local co = running()
	finish(co, xpcall(f, traceback, ...))
	pool[#pool + 1] = co
	return co_main(yield())
end

local function get_co()
	local n = #pool
	if n > 0 then
		local co = pool[n]
		pool[n] = nil
		return co
	end
	return cocreate(co_main)
end

-- Resumes co; a coroutine that dies here failed outside its handler's
-- protection (e.g. out of memory): fail its request and log.
local function resume(co, ...)
	local ok, err = cresume(co, ...)
	if not ok then
		local session = co_session[co]
		if session then
			reply_error(co_source[co], session, error_text(err))
			co_session[co] = nil
			co_source[co] = nil
		end
		co_rawproto[co] = nil
		co_deferred[co] = nil
		log_error("coroutine failed: " .. error_text(err))
	end
end

----------------------------------------------------------------------------
-- Call timeouts. Calls with the same timeout expire in the order they were
-- made, so each timeout value keeps a FIFO of (session, due) and at most one
-- armed timer, for its oldest entry. Answered entries are dropped from the
-- head as new calls come in, so the FIFO stays as short as the number of
-- calls really in flight.

local fifos = {} -- timeout ms -> {head, tail, [i] = session, due = {}}

local arm

local function expire(f)
	local now = cnow()
	local h, t = f.head, f.tail
	local due = f.due
	local expired
	while h <= t do
		local s = f[h]
		if session_co[s] ~= nil then
			if due[h] > now then
				break
			end
			expired = expired or {}
			expired[#expired + 1] = s
		end
		f[h] = nil
		due[h] = nil
		h = h + 1
	end
	f.head = h
	f.armed = false
	arm(f)
	if expired then
		local reason = string_format("timed out after %d ms", f.ms)
		for i = 1, #expired do
			local s = expired[i]
			local co = session_co[s]
			if co ~= nil then
				session_co[s] = nil
				if type(co) == "thread" then
					resume(co, false, reason)
				end
			end
		end
	end
end

function arm(f)
	local h = f.head
	if f.armed or h > f.tail then
		return
	end
	f.armed = true
	local delay = f.due[h] - cnow()
	if delay < 0 then
		delay = 0
	end
	session_co[ctimeout(delay)] = function()
		expire(f)
	end
end

local function track(session, ms)
	local f = fifos[ms]
	if f == nil then
		f = { head = 1, tail = 0, due = {}, ms = ms, armed = false }
		fifos[ms] = f
	end
	local h, t = f.head, f.tail
	while h <= t and session_co[f[h]] == nil do
		f[h] = nil
		f.due[h] = nil
		h = h + 1
	end
	f.head = h
	t = t + 1
	f.tail = t
	f[t] = session
	f.due[t] = cnow() + ms
	if not f.armed then
		arm(f)
	end
end

-- Suspends the running coroutine until the response of session.
-- Returns true, msg, sz or false, reason.
local function wait_response(session, ms)
	local co = running()
	session_co[session] = co
	if ms then
		track(session, ms)
	end
	return yield()
end

----------------------------------------------------------------------------
-- Sending and calling.

local function addr_text(addr)
	if type(addr) == "number" then
		return string_format(":%08x", addr)
	end
	return tostring(addr)
end
shoal.address = addr_text

-- Sends a one-way message. Returns true, or false plus the reason when the
-- destination does not exist (the message is then dropped).
function shoal.send(addr, typename, ...)
	local p = proto[typename]
	if p == nil then
		error("unknown protocol " .. tostring(typename), 2)
	end
	local r, err
	if p.pack == nil then
		r, err = csend(addr, p.id, 0, ...)
	else
		r, err = csendraw(addr, p.id, 0, p.pack(...))
	end
	if r then
		return true
	end
	return false, err
end

local function call_result(addr, p, ok, msg, sz)
	if ok then
		if p.unpack then
			return p.unpack(msg, sz)
		end
		return msg, sz
	end
	error(string_format("call %s failed: %s", addr_text(addr), error_text(msg)), 3)
end

local function docall(ms, addr, typename, ...)
	local p = proto[typename]
	if p == nil then
		error("unknown protocol " .. tostring(typename), 3)
	end
	local session, err
	if p.pack == nil then
		session, err = csend(addr, p.id, ALLOC, ...)
	else
		session, err = csendraw(addr, p.id, ALLOC, p.pack(...))
	end
	if not session then
		error(string_format("call %s failed: %s", addr_text(addr), err), 3)
	end
	return call_result(addr, p, wait_response(session, ms))
end

-- Calls a service and returns its reply. Raises when the callee raised
-- (the message carries the remote traceback), is dead, exits before it
-- answers, or does not answer within the default timeout.
function shoal.call(addr, typename, ...)
	return docall(default_timeout, addr, typename, ...)
end

-- Same as call with an explicit timeout in milliseconds.
function shoal.calltimeout(ms, addr, typename, ...)
	if type(ms) ~= "number" or ms < 1 or ms > 0x7fffffff then
		error("calltimeout: timeout must be a positive number of ms (1..2147483647)", 2)
	end
	return docall(ms // 1, addr, typename, ...)
end

-- Answers the current request now (the handler's return values are then
-- not sent).
function shoal.ret(...)
	local co = running()
	local session = co_session[co]
	if session == nil then
		error("shoal.ret: no request to answer (one-way message or already answered)", 2)
	end
	local source, p = co_source[co], co_rawproto[co]
	co_session[co] = nil
	co_source[co] = nil
	co_rawproto[co] = nil
	reply(source, session, p, ...)
end

-- Takes the current request for a later answer. Returns a responder:
-- responder(true, ...) replies, responder(false, err) fails the caller.
-- Each responder answers once; if the service exits first the caller gets
-- an error.
function shoal.response()
	local co = running()
	local session = co_session[co]
	if session == nil then
		error("shoal.response: no request to answer (one-way message or already answered)", 2)
	end
	local source, p = co_source[co], co_rawproto[co]
	co_session[co] = nil
	co_source[co] = nil
	co_rawproto[co] = nil
	co_deferred[co] = true
	local responder
	responder = function(ok, ...)
		if deferred[responder] == nil then
			error("shoal.response: this request was already answered", 2)
		end
		deferred[responder] = nil
		if ok then
			reply(source, session, p, ...)
		else
			reply_error(source, session, error_text((...)))
		end
	end
	deferred[responder] = { source, session }
	return responder
end

----------------------------------------------------------------------------
-- Timers, fork, wait/wakeup.

-- Runs fn(...) in a new coroutine after the current message is handled.
function shoal.fork(fn, ...)
	local co = get_co()
	fork_queue[#fork_queue + 1] = { co, fn, table.pack(...) }
	return co
end

-- Runs wakeups and forks queued while handling a message.
local function run_deferred()
	while true do
		local co = table.remove(wakeup_queue, 1)
		if co then
			resume(co, false, "BREAK")
		else
			local f = table.remove(fork_queue, 1)
			if f == nil then
				return
			end
			local args = f[3]
			resume(f[1], f[2], table.unpack(args, 1, args.n))
		end
	end
end

----------------------------------------------------------------------------
-- Services.

function shoal.self()
	return c.self()
end

-- Milliseconds since the node started.
shoal.now = cnow
-- Unix time (seconds) when the node started.
shoal.starttime = c.starttime
shoal.hpc = c.hpc
shoal.getenv = c.getenv
shoal.memory = c.memory
shoal.setmemlimit = c.setmemlimit
shoal.stat = c.stat
shoal.list = c.list
shoal.interrupt = c.interrupt
shoal.packstring = c.packstring
shoal.unpack = c.unpack
shoal.tostring = c.tostring
shoal.localname = c.query

-- Exits this service. Callers still waiting on it get an error at once.
function shoal.exit()
	exiting = true
	c.exit()
	if coroutine.isyieldable() then
		yield() -- never resumed: the service is gone
	end
end

----------------------------------------------------------------------------
-- The dispatcher: called from C for every message.

local function system_message(session, source, cmd)
	if cmd == "EXIT" then
		if exiting then
			return
		end
		exiting = true
		resume(get_co(), function()
			for i = 1, #exit_hooks do
				local ok, err = xpcall(exit_hooks[i], traceback)
				if not ok then
					log_error("exit hook failed: " .. error_text(err))
				end
			end
			shoal.exit()
		end)
	end
end

local function dispatch(typ, session, source, ...)
	if typ == PTYPE_RESPONSE or typ == PTYPE_ERROR then
		local co = session_co[session]
		if co ~= nil then
			session_co[session] = nil
			if type(co) == "thread" then
				resume(co, typ == PTYPE_RESPONSE, ...)
			else
				co()
			end
		end
	elseif typ == PTYPE_SYSTEM then
		system_message(session, source, ...)
	else
		local p = proto[typ]
		local f = p and p.dispatch
		if f == nil then
			local why = p and ("no handler for protocol " .. p.name) or ("unknown message type " .. typ)
			if session > 0 then
				reply_error(source, session, string_format("service :%08x: %s", c.self(), why))
			end
			log_error(string_format("message from :%08x dropped: %s", source, why))
		else
			local co = get_co()
			if session > 0 then
				co_session[co] = session
				co_source[co] = source
				if typ ~= PTYPE_LUA then
					co_rawproto[co] = p
				end
			end
			if typ == PTYPE_LUA then
				resume(co, f, session, source, ...)
			else
				resume(co, f, session, source, p.unpack(...))
			end
		end
	end
	if wakeup_queue[1] or fork_queue[1] then
		run_deferred()
	end
end

-- Called from C when the service is freed: fail every caller still waiting.
local start_request -- {source, session} of newservice until started

local function release()
	local me = c.self()
	local text = string_format("service :%08x exited before answering", me)
	if start_request then
		reply_error(start_request[1], start_request[2], string_format("service :%08x exited while starting", me))
	end
	for co, session in pairs(co_session) do
		reply_error(co_source[co], session, text)
	end
	for _, req in pairs(deferred) do
		reply_error(req[1], req[2], text)
	end
end

-- Installs the dispatcher and runs fn(...) in a coroutine. When fn returns,
-- whoever started the service (newservice) is told it is ready; if fn
-- raises, the starter gets the error and the service exits.
function shoal.start(fn, ...)
	c.callback(dispatch, release)
	local source, session = c.startinfo()
	if session > 0 then
		start_request = { source, session }
	end
	local args = table.pack(...)
	resume(get_co(), function()
		local ok, err = xpcall(fn, traceback, table.unpack(args, 1, args.n))
		start_request = nil
		if ok then
			if session > 0 then
				csend(source, PTYPE_RESPONSE, session)
			end
		else
			err = error_text(err)
			if session > 0 then
				reply_error(source, session, err)
			else
				log_error("start failed: " .. err)
				if source == 0 then
					c.abort(1)
				end
			end
			shoal.exit()
		end
	end)
	if wakeup_queue[1] or fork_queue[1] then
		run_deferred()
	end
end

----------------------------------------------------------------------------
-- Everything else (timers, services, logging) lives in shoal/more.lua and is
-- loaded on first use of any name this table does not have yet.

local internal = {
	session_co = session_co,
	wakeup_queue = wakeup_queue,
	get_co = get_co,
	resume = resume,
	wait_response = wait_response,
	error_text = error_text,
	exit_hooks = exit_hooks,
	default_timeout = default_timeout,
}

setmetatable(shoal, {
	__index = function(t, k)
		local more = internal.loaded
		if more == nil then
			internal.loaded = true
			require "shoal.more"(t, internal)
			return rawget(t, k)
		end
	end,
})

print = function(...)
	return shoal.info(...)
end

return shoal
