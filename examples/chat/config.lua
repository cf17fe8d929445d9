-- The chat-room demo (see docs/gate.md):
--   shoal examples/chat/config.lua                 (CHAT_PORT, default 8888)
--   build/bench/chat_client 127.0.0.1 8888 alice   (in a few terminals)
-- A gate, a watchdog, one agent per client and 4 instances of the chat
-- logic routed by hash(name).
thread = 2
start = "chat_main"
luaservice = root .. "/examples/chat/?.lua;" .. root .. "/service/?.lua"
lualib = root .. "/lualib/?.lua;" .. root .. "/examples/chat/?.lua"
chat_host = os.getenv("CHAT_HOST") or "127.0.0.1"
chat_port = tonumber(os.getenv("CHAT_PORT") or "8888")
chat_logic = 4 -- logic instances
loglevel = "info"
