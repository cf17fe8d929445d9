-- etcd_node: the start service of test_cluster_etcd.py's nodes: the
-- cluster probe (services/cluster_probe.lua) and, with config bam = "yes",
-- a baseappmgr (service/baseappmgr.lua) on the cluster's registry (etcd).
local shoal = require "shoal"

shoal.start(function()
	shoal.newservice("cluster_probe")
	if shoal.getenv("bam") == "yes" then
		shoal.newservice("baseappmgr")
	end
end)
