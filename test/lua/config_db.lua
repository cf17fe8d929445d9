-- Config for the dbmgr's Lua tests (test_db*.lua): the common test config
-- plus the dbmgr's test hook (the stall command).
loadfile(root .. "/test/lua/config.lua", "t", _ENV)()
db_test_hooks = true
