-- A cluster of 5 nodes on two "machines", both on this one (docs/cluster-layout.md):
--   export SHOAL_CLUSTER_SECRET=change-me
--   lua5.4 scripts/cluster.lua examples/cluster/layout.lua start    # status, stop, print
-- Node 1 hosts the global components (and the registry); it logs the
-- healthy peers and a round trip to each every few seconds
-- (cluster-run/node1.log). Harbor ports from 7001, or CLUSTER_BASE_PORT.
secret_env = "SHOAL_CLUSTER_SECRET"
base_port = tonumber(os.getenv("CLUSTER_BASE_PORT")) or 7001
heartbeat_ms = 1000; heartbeat_misses = 3

machines = {
	{ name = "m1", host = "127.0.0.1",
	  global = { "registry", "login", "baseappmgr", "cellappmgr", "dbmgr" },
	  baseapp = 1, cellapp = 1 },
	{ name = "m2", host = "127.0.0.1", baseapp = 1, cellapp = 1 },
}

-- Every role runs examples/cluster/cluster_demo.lua unless it says otherwise:
-- roles = { baseapp = { start = "my_baseapp", tags = "eu", settings = { thread = 4 } } }
settings = { thread = 1 }
