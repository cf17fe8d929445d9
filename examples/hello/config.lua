-- A single-node example: `shoal examples/hello/config.lua`
thread = 2
node = 1
start = "hello_main"
luaservice = root .. "/examples/hello/?.lua;" .. root .. "/service/?.lua"
loglevel = "info"
call_timeout = 5000
-- Uncomment for a debug console (nc 127.0.0.1 8000), and keep the node up:
-- console = true
-- console_port = 8000
-- hello_stay = "1"
