-- game/admission.lua - the loginapp's admission control: a bound on logins
-- in progress and a token bucket per client address. Pure (the clock is
-- passed in), so it is unit-tested without sockets.
--
--   local admission = require "game.admission"
--   local a = admission.new { max_inflight = 256, rate = 20, burst = 40, retry_ms = 200 }
--   local ok, code, retry_ms = a:enter(ip, now_ms)   -- code: proto BUSY or RATE
--   ...  a:leave()                                   -- once per successful enter
--
-- Past either bound the answer is "retry after N ms", never a wait: a
-- thundering herd after a restart is turned away cheaply instead of queued.
-- BUSY's retry grows with how far over the bound the loginapp is asked (up
-- to 8 x retry_ms), with up to 50% jitter so retries spread out.
-- The per-address table is bounded: buckets full again are forgotten, and
-- past max_addrs entries the oldest half is dropped (a forgotten address
-- starts with a full bucket, which only errs on the generous side).

local proto = require "game.proto"

local admission = {}
local mt = { __index = admission }
local C = proto.codes

function admission.new(opts)
	return setmetatable({
		max_inflight = assert(opts.max_inflight),
		rate = opts.rate or 0, -- tokens a second; 0: no per-address limit
		burst = opts.burst or 1,
		retry_ms = opts.retry_ms or 200,
		max_addrs = opts.max_addrs or 65536,
		random = opts.random or math.random,
		inflight = 0,
		refused = 0, -- counts, for stats
		addrs = {}, -- ip -> {tokens, at}
		naddrs = 0,
	}, mt)
end

local function prune(self, now)
	local kept, n = {}, 0
	local horizon = now - (self.burst / self.rate) * 1000
	for ip, b in pairs(self.addrs) do
		if b.at > horizon then
			kept[ip] = b
			n = n + 1
		end
	end
	if n > self.max_addrs // 2 then -- all recent: keep the newest half
		local list = {}
		for ip, b in pairs(kept) do
			list[#list + 1] = { ip, b }
		end
		table.sort(list, function(x, y)
			return x[2].at > y[2].at
		end)
		kept, n = {}, 0
		for i = 1, self.max_addrs // 2 do
			kept[list[i][1]] = list[i][2]
			n = n + 1
		end
	end
	self.addrs, self.naddrs = kept, n
end

-- true | false, code, retry_after_ms
function admission:enter(ip, now)
	if self.inflight >= self.max_inflight then
		self.refused = self.refused + 1
		local over = math.min(8, 1 + self.refused // self.max_inflight)
		local ms = self.retry_ms * over
		return false, C.BUSY, ms + math.floor(self.random() * ms / 2)
	end
	if self.rate > 0 then
		local b = self.addrs[ip]
		if b == nil then
			if self.naddrs >= self.max_addrs then
				prune(self, now)
			end
			b = { tokens = self.burst, at = now }
			self.addrs[ip] = b
			self.naddrs = self.naddrs + 1
		else
			b.tokens = math.min(self.burst, b.tokens + (now - b.at) * self.rate / 1000)
			b.at = now
		end
		if b.tokens < 1 then
			self.refused = self.refused + 1
			return false, C.RATE, math.ceil((1 - b.tokens) * 1000 / self.rate)
		end
		b.tokens = b.tokens - 1
	end
	self.inflight = self.inflight + 1
	if self.refused > 0 and self.inflight < self.max_inflight // 2 then
		self.refused = 0 -- the storm is over
	end
	return true
end

function admission:leave()
	assert(self.inflight > 0, "admission:leave without enter")
	self.inflight = self.inflight - 1
end

return admission
