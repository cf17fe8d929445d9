-- The login path on one node: `shoal examples/login/config.lua`, then
-- `python3 test/e2e/loginbot.py --pin PUBKEY 127.0.0.1 7100 alice secret123`.
-- (see docs/loginapp.md). SHOAL_CLUSTER_SECRET signs the tokens.
thread = 2
start = "login_main"
luaservice = root .. "/examples/login/?.lua;" .. root .. "/service/?.lua"
loglevel = "info"
call_timeout = 5000
db_path = os.getenv("LOGIN_DB") or "login-demo.db"
login_port = tonumber(os.getenv("LOGIN_PORT") or "7100")
-- a demo key: a real cluster keeps its own private key out of the repository
login_static_key = "a8abababababababababababababababababababababababababababababab6b"
baseapp_encrypt = true
baseapp_registry = ".registry"
baseapp_heartbeat_ms = 1000
baseappmgr_max_cpu = 10000 -- both baseapps report the whole process's CPU: no throttling by CPU here
-- LOGIN_WEBSOCKET=1: the gates take browsers too (examples/web/play.html; docs/gate.md "WebSocket clients")
gate_websocket = os.getenv("LOGIN_WEBSOCKET") == "1"
