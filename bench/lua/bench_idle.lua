-- bench_idle: the smallest possible service.
local shoal = require "shoal"
shoal.start(function() end)
