-- Login benchmark node (bench/run login): the whole login path on one node,
-- examples/login/login_main.lua (dbmgr on SQLite, a registry, baseappmgr,
-- BENCH_BASEAPPS baseapps, the demo game logic, BENCH_LOGINAPPS loginapps
-- on free ports), driven by bench/bot from outside. bench/run sets:
--   BENCH_LOGIN_DB   the SQLite file (a temp dir)
--   BENCH_LOGIN_LOG  the log file (the ports are read from it)
--   BENCH_LOGIN_KEY  the loginapp's static private key (random per run)
--   BENCH_SCRYPT_N, BENCH_SCRYPT_R  the password hash cost (unset: the defaults)
-- and SHOAL_CLUSTER_SECRET (tokens are signed with it).
thread = tonumber(os.getenv("SHOAL_THREADS") or "2")
start = "login_main"
luaservice = root .. "/examples/login/?.lua;" .. root .. "/service/?.lua"
loglevel = "info" -- the "listening on" lines
logfile = os.getenv("BENCH_LOGIN_LOG")
call_timeout = 10000
monitor_stuck_ms = 0
db_path = os.getenv("BENCH_LOGIN_DB")
login_port = 0
login_static_key = os.getenv("BENCH_LOGIN_KEY")
login_rate_per_addr = 0 -- every bot comes from 127.0.0.1
login_demo_loginapps = tonumber(os.getenv("BENCH_LOGINAPPS") or "1")
login_demo_baseapps = tonumber(os.getenv("BENCH_BASEAPPS") or "2")
baseapp_encrypt = true -- as in the demo: the game frames are sealed
baseapp_registry = ".registry"
baseapp_heartbeat_ms = 1000
baseappmgr_max_cpu = 10000 -- every baseapp reports the whole node's CPU: no throttling by CPU
crypto_scrypt_n = tonumber(os.getenv("BENCH_SCRYPT_N")) -- nil: the schema's default
crypto_scrypt_r = tonumber(os.getenv("BENCH_SCRYPT_R"))
