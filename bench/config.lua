-- Benchmark node: BENCH names which benchmark service to run.
thread = tonumber(os.getenv("SHOAL_THREADS") or "2")
start = os.getenv("BENCH") == "gate" and "bench_gate_main" or ("bench_main " .. (os.getenv("BENCH") or "all"))
luaservice = root .. "/bench/lua/?.lua;" .. root .. "/service/?.lua;" .. root .. "/test/e2e/services/?.lua"
lualib = root .. "/lualib/?.lua;" .. root .. "/bench/lua/?.lua"
max_sockets = 8192
loglevel = "warn"
call_timeout = 60000
monitor_stuck_ms = 0
-- BENCH_GATE_WS=1: the gate takes WebSocket clients too (gate_echo_ws_* figures)
gate_websocket = os.getenv("BENCH_GATE_WS") == "1"
