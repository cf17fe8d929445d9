-- Config for the Lua service tests: SHOAL_TEST names the test service.
-- The test service stops the node with shoal.abort(0) when every assertion
-- held and with exit code 1 on a failure (see testlib.run/start).
thread = tonumber(os.getenv("SHOAL_THREADS") or "2")
start = os.getenv("SHOAL_TEST") or "test_missing"
luaservice = root .. "/test/lua/?.lua;" .. root .. "/service/?.lua"
lualib = root .. "/lualib/?.lua;" .. root .. "/test/lua/?.lua"
loglevel = os.getenv("SHOAL_LOGLEVEL") or "info"
call_timeout = 5000
memlimit = tonumber(os.getenv("SHOAL_MEMLIMIT") or "0")
monitor_stuck_ms = tonumber(os.getenv("SHOAL_MONITOR_MS") or "5000")
monitor_interrupt = os.getenv("SHOAL_MONITOR_INTERRUPT") == "1"
logfile = os.getenv("SHOAL_LOGFILE") -- nil: the log goes to stdout
max_sockets = tonumber(os.getenv("SHOAL_MAX_SOCKETS") or "16384")
socket_warn_kb = tonumber(os.getenv("SHOAL_SOCKET_WARN_KB") or "1024")
socket_limit_kb = tonumber(os.getenv("SHOAL_SOCKET_LIMIT_KB") or "65536")
world_spaces = os.getenv("SHOAL_WORLD_SPACES") -- nil: the default (test_cellappmgr sets it)
call_slow_ms = tonumber(os.getenv("SHOAL_CALL_SLOW_MS") or "5000")
log_format = os.getenv("SHOAL_LOG_FORMAT") -- nil: text
