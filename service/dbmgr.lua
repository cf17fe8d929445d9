-- dbmgr: starts the persistence service (cservice/dbmgr.c) with the
-- config's db_* keys and names it .dbmgr (or the name given), so
-- lualib/game/db.lua finds it. docs/dbmgr.md has its commands.
--
--   shoal.newservice("dbmgr")            -- or ("dbmgr", ".mydb")
local shoal = require "shoal"

local name = ... or ".dbmgr"

shoal.start(function()
	local h, err = shoal.launch("dbmgr", "name=" .. name)
	if not h then
		error(err)
	end
	shoal.log(string.format("dbmgr started as %s (:%08x)", name, h))
	shoal.fork(shoal.exit) -- after answering newservice; the C service lives on by itself
end)
