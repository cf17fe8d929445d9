-- crypto_svc: a service that leaves password jobs behind (test_crypto).
--   flood(n)  (one-way) queues n slow hashes from n coroutines
--   ping      -> "pong"
local shoal = require "shoal"
local crypto = require "shoal.crypto"

shoal.start(function()
	shoal.dispatch("lua", function(_, _, cmd, n)
		if cmd == "flood" then
			for _ = 1, n do
				shoal.fork(crypto.hash_password, "pw", { kdf = "scrypt", n = 4096, r = 8, p = 1 })
			end
		elseif cmd == "ping" then
			return "pong"
		end
	end)
end)
