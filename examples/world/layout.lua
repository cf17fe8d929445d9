-- The world cluster (docs/cellapp.md, "The world cluster"): eight nodes on
-- this machine, one role each where it matters, so any one can be killed:
--   node 1  registry               node 2  dbmgr
--   nodes 3, 4  baseappmgr + cellappmgr (each pair active/standby over its
--               registry lease) + a loginapp
--   nodes 5, 6  baseapps (the demo game logic; players' cell parts)
--   nodes 7, 8  cellapps (the spaces `world` and `dungeon`)
--
--   export SHOAL_CLUSTER_SECRET=change-me
--   lua5.4 scripts/cluster.lua examples/world/layout.lua start --dir /tmp/world-run
--   grep 'loginapp: listening' /tmp/world-run/node[34].log     # the login ports
--   lua5.4 scripts/cluster.lua examples/world/layout.lua stop --dir /tmp/world-run
-- Every node runs a debug console on a free port (logged: "debug console
-- listening on 127.0.0.1:PORT"); test/e2e/test_world.py drives cellappmgr
-- through it (`inject .cellappmgr FILE`).
-- Environment (all optional):
--   CLUSTER_BASE_PORT  first harbor port (7301)
--   WORLD_DB           the SQLite file (world-cluster.db in the node's directory)
--   WORLD_SCRYPT_N, WORLD_SCRYPT_R  the password KDF's cost (16384, 8)
--   WORLD_SNAPSHOT_MS  cellapp_snapshot_ms, the RPO of a dead cellapp (1000)
--   WORLD_METRICS_LISTEN  metrics_listen of every node, e.g. 0 (a free port each)
--   WORLD_DASHBOARD    1: the nodes serve the web dashboard on it (docs/operations.md)
local function env(name, default)
	local v = os.getenv(name)
	if v == nil or v == "" then
		return default
	end
	return v
end

secret_env = "SHOAL_CLUSTER_SECRET"
base_port = tonumber(env("CLUSTER_BASE_PORT", "7301"))
-- A component silent for 250 ms * 8 = 2 s is dead: the failure-detection
-- bound of a cellapp (its spaces are recreated after it) and of the leases.
heartbeat_ms = 250; heartbeat_misses = 8

machines = {
	{ name = "reg", host = "127.0.0.1", global = { "registry" } },
	{ name = "db", host = "127.0.0.1", global = { "dbmgr" } },
	{ name = "mgr1", host = "127.0.0.1", global = { "baseappmgr", "cellappmgr", "loginapp" } },
	{ name = "mgr2", host = "127.0.0.1", global = { "baseappmgr", "cellappmgr", "loginapp" } },
	{ name = "game", host = "127.0.0.1", baseapp = 2, cellapp = 2 },
}

roles = {
	global = { start = "world_node global" },
	baseapp = { start = "world_node baseapp" },
	cellapp = { start = "world_node cellapp" },
}

settings = {
	thread = 2,
	loglevel = "info",
	call_timeout = 2000,
	registry_suspect = 4,
	registry_dead = 8,
	console = true,
	console_port = 0,
	db_backend = "sqlite",
	db_path = env("WORLD_DB", "world-cluster.db"),
	crypto_scrypt_n = tonumber(env("WORLD_SCRYPT_N", "16384")),
	crypto_scrypt_r = tonumber(env("WORLD_SCRYPT_R", "8")),
	login_host = "127.0.0.1",
	login_port = 0,
	login_static_key = "a8abababababababababababababababababababababababababababababab6b",
	login_dbmgr = "dbmgr",
	login_rate_per_addr = 0,
	baseapp_host = "127.0.0.1",
	baseapp_dbmgr = "dbmgr",
	baseapp_encrypt = true,
	baseapp_heartbeat_ms = 250,
	baseappmgr_max_cpu = 10000,
	cellapp_dbmgr = "dbmgr",
	cellapp_heartbeat_ms = 250,
	cellapp_snapshot_ms = tonumber(env("WORLD_SNAPSHOT_MS", "1000")),
	cell_check_ms = 500,
	world_spaces = "world,dungeon",
	world_width = 1000,
	world_height = 1000,
	world_radius = 50,
	world_max_speed = 100,
	metrics_listen = env("WORLD_METRICS_LISTEN", nil),
	dashboard = env("WORLD_DASHBOARD", "") == "1",
}
