-- Config for test_account.lua: the common test config plus the login
-- path's keys (a low KDF cost, sealed game frames, a local registry).
loadfile(root .. "/test/lua/config.lua", "t", _ENV)()
login_static_key = "a8abababababababababababababababababababababababababababababab6b"
login_port = 0
baseapp_encrypt = true
baseapp_registry = ".registry"
baseapp_heartbeat_ms = 200
baseappmgr_max_cpu = 10000
-- every baseapp reports the whole node's CPU: noise that must not outweigh
-- the online count when a test expects the emptier baseapp to be picked
baseappmgr_score_cpu = 0
crypto_scrypt_n = 1024
crypto_scrypt_r = 1
tags = "eu"
baseapp_redirect_to = ".redirects"
login_token_ms = 1000
login_ticket_ms = 1000
