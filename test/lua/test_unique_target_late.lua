-- test_unique_target_late: test_unique_target under another name (for
-- queryservice, which needs a unique service nobody has started yet).
local file = SERVICE_PATH:gsub("_late%.lua$", ".lua")
return assert(loadfile(file))(...)
