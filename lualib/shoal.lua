-- shoal.lua - the API a Lua service uses.
--
-- The message path (dispatch, call, ret, response, fork, sleep, wait,
-- wakeup, timeouts) is C: lualib/src/lua-sched.c, exposed as shoal.core.
-- Every incoming request runs in its own coroutine, so a handler can call
-- other services and wait without blocking the service; every call has a
-- timeout (config `call_timeout`), so no coroutine waits forever.
--
-- The rest of the API (newservice, uniqueservice, on_exit, ...) is in
-- shoal/more.lua, loaded on first use of any of its names: a service that
-- never uses them does not carry their code.
--
--   shoal.start(fn, ...)                 run fn; answer newservice when it returns
--   shoal.dispatch(proto, fn)            fn(session, source, ...) -> reply values
--   shoal.dispatch_commands(t [, proto]) requests {name, ...} -> t[name](...)
--   shoal.send(addr, proto, ...)         -> true | false, err (one-way)
--   shoal.call(addr, proto, ...)         -> reply (raises on error/dead/timeout)
--   shoal.calltimeout(ms, addr, proto, ...)
--   shoal.trycall(addr, proto, ...)      -> true, reply... | false, code, text
--   shoal.trycalltimeout(ms, addr, proto, ...)   (code: one of shoal.errors)
--   shoal.ret(...)  shoal.response()     answer now / later
--   shoal.fork(fn, ...)  shoal.sleep(ms)  shoal.yield()  shoal.timeout(ms, fn)
--   shoal.wait()  shoal.wakeup(co)  shoal.parallel(fns) -> {table.pack(pcall(fn)), ...}
--   shoal.self() now() hpc() config(k) getenv(k) name(n [,h]) localname(n) kill(a) exit() abort(code)
--   shoal.log/info/debug/warn/error(...) stat([h]) memory() setmemlimit(n) list()
--   shoal.callstats()                    the node's call latency histograms (docs/operations.md)
--   shoal.errors.NAME  errname(code)  strerror(code)   codes pushed from C
--   shoal.nodeof(h) localof(h) makehandle(node, local) harbor_of(node)
--   shoal.HANDLE_* PTYPE_* LOG_* SIGNAL_* SYSTEM_*      constants pushed from C

local shoal = require "shoal.core"

-- A name the table lacks: first the rest of the C API (shoal.coreextra),
-- then the Lua part (shoal/more.lua).
setmetatable(shoal, {
	__index = function(t, k)
		if rawget(t, "_extra") == nil then
			rawset(t, "_extra", true)
			for name, v in pairs(require "shoal.coreextra") do
				if rawget(t, name) == nil then
					rawset(t, name, v)
				end
			end
			local v = rawget(t, k)
			if v ~= nil then
				return v
			end
		end
		if rawget(t, "_more") == nil then
			rawset(t, "_more", true)
			require "shoal.more"(t)
			return rawget(t, k)
		end
	end,
})

print = shoal.print

return shoal
