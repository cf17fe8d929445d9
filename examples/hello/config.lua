-- A single-node example: `shoal examples/hello/config.lua`
thread = 2
node = 1
start = "hello_main"
luaservice = root .. "/examples/hello/?.lua;" .. root .. "/service/?.lua"
loglevel = "info"
call_timeout = 5000
