start = "leak_main"
luaservice = "/tmp/leak/?.lua;" .. root .. "/service/?.lua"
