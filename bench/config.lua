-- Benchmark node: BENCH names which benchmark service to run.
thread = tonumber(os.getenv("SHOAL_THREADS") or "2")
start = "bench_main " .. (os.getenv("BENCH") or "all")
luaservice = root .. "/bench/lua/?.lua;" .. root .. "/service/?.lua"
loglevel = "warn"
call_timeout = 60000
monitor_stuck_ms = 0
