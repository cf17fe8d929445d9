-- Cluster benchmark node (bench/run cluster): two nodes on 127.0.0.1.
-- BENCH_NODE is this node's id, BENCH_CLUSTER the cluster list, BENCH_MODE
-- what node 1 measures ("figures" or "detect"); node 2 runs the peer.
thread = tonumber(os.getenv("SHOAL_THREADS") or "2")
node = tonumber(os.getenv("BENCH_NODE") or "1")
cluster = os.getenv("BENCH_CLUSTER")
heartbeat_ms = 200
heartbeat_misses = 3
start = node == 1 and ("bench_cluster_main " .. (os.getenv("BENCH_MODE") or "figures")) or "bench_cluster_peer"
luaservice = root .. "/bench/lua/?.lua;" .. root .. "/service/?.lua"
lualib = root .. "/lualib/?.lua;" .. root .. "/bench/lua/?.lua"
loglevel = "warn"
call_timeout = 60000
monitor_stuck_ms = 0
