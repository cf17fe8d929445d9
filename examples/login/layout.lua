-- The login cluster (docs/cluster-layout.md, "The login cluster"): nine
-- nodes on this machine, one role each, so that any one of them can be
-- killed alone:
--   node 1  registry              node 2  dbmgr
--   node 3  baseappmgr (active or standby, over the registry lease)
--   node 4  baseappmgr (the other one)
--   node 5  loginapp               node 6  loginapp
--   nodes 7, 8, 9  baseapps (each its gate and the demo game logic)
--
--   export SHOAL_CLUSTER_SECRET=change-me
--   lua5.4 scripts/cluster.lua examples/login/layout.lua start --dir /tmp/login-run
--   grep 'loginapp: listening' /tmp/login-run/node[56].log     # the login ports
--   build/bench/bot --login 127.0.0.1:PORT5,127.0.0.1:PORT6 --server-key \
--     e3712d851a0e5d79b831c5e34ab22b41a198171de209b8b8faca23a11c624859 --register --bots 200
--   lua5.4 scripts/cluster.lua examples/login/layout.lua stop --dir /tmp/login-run
-- (scripts/demo.sh does all of it.) The login and gate ports are free ones,
-- logged by each node. Environment (all optional):
--   CLUSTER_BASE_PORT  first harbor port (7201)
--   LOGIN_DB           the SQLite file (login-cluster.db in the node's directory)
--   LOGIN_DB_BACKEND   sqlite or postgres; LOGIN_DB_CONNINFO its libpq conninfo
--   LOGIN_SCRYPT_N, LOGIN_SCRYPT_R  the password KDF's cost (16384, 8: the defaults)
local function env(name, default)
	local v = os.getenv(name)
	if v == nil or v == "" then
		return default
	end
	return v
end

secret_env = "SHOAL_CLUSTER_SECRET"
base_port = tonumber(env("CLUSTER_BASE_PORT", "7201"))
-- A node silent for 250 ms * 12 = 3 s is lost; the registry declares a
-- component dead after 12 missed heartbeats (3 s): the failure-detection
-- bound of the baseappmgr lease and of the directory's dead sessions.
heartbeat_ms = 250; heartbeat_misses = 12

machines = {
	{ name = "reg", host = "127.0.0.1", global = { "registry" } },
	{ name = "db", host = "127.0.0.1", global = { "dbmgr" } },
	{ name = "bam1", host = "127.0.0.1", global = { "baseappmgr" } },
	{ name = "bam2", host = "127.0.0.1", global = { "baseappmgr" } },
	{ name = "login1", host = "127.0.0.1", global = { "loginapp" } },
	{ name = "login2", host = "127.0.0.1", global = { "loginapp" } },
	{ name = "game", host = "127.0.0.1", baseapp = 3 },
}

roles = {
	global = { start = "login_node global" },
	baseapp = { start = "login_node baseapp" },
}

settings = {
	thread = 2,
	loglevel = "info",
	call_timeout = 3000,
	registry_suspect = 6,
	registry_dead = 12,
	db_backend = env("LOGIN_DB_BACKEND", "sqlite"),
	db_path = env("LOGIN_DB", "login-cluster.db"),
	db_conninfo = env("LOGIN_DB_CONNINFO", ""),
	crypto_scrypt_n = tonumber(env("LOGIN_SCRYPT_N", "16384")),
	crypto_scrypt_r = tonumber(env("LOGIN_SCRYPT_R", "8")),
	login_host = "127.0.0.1", -- this machine only (a real cluster: its public address)
	login_port = 0,
	-- a demo key (its public key above): a real cluster keeps its own out of the repository
	login_static_key = "a8abababababababababababababababababababababababababababababab6b",
	login_dbmgr = "dbmgr",
	login_max_inflight = 1000,
	login_rate_per_addr = 0, -- every bot comes from 127.0.0.1
	login_kick_timeout_ms = 5000,
	baseapp_host = "127.0.0.1",
	baseapp_dbmgr = "dbmgr",
	baseapp_encrypt = true,
	baseapp_heartbeat_ms = 250,
	baseappmgr_max_cpu = 10000, -- the nodes share two cores: no throttling by CPU
}
