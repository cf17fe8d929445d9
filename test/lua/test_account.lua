-- test_account: the account manager (lualib/game/account.lua) and the Lua
-- bot (lualib/game/bot.lua) against the whole login path in this node:
-- dbmgr, a registry, baseappmgr, two baseapps, the demo game logic and a
-- loginapp, over real sockets on 127.0.0.1 (config_login.lua).
local shoal = require "shoal"
local crypto = require "shoal.crypto"
local t = require "testlib"
local bot = require "game.bot"
local proto = require "game.proto"
local account = require "game.account"

local C = proto.codes
local PIN = crypto.fromhex("e3712d851a0e5d79b831c5e34ab22b41a198171de209b8b8faca23a11c624859")
local cases = {}
local login_port, am
local baseapps = {} -- handles
local dbfile

local function port_of(addr)
	return math.tointeger(addr:match(":(%d+)$"))
end

local function setup()
	dbfile = os.tmpname()
	assert(shoal.launch("dbmgr", "path=" .. dbfile .. " name=.dbmgr"))
	shoal.name(".registry", assert(shoal.launch("registry", "interval=200 suspect=5 dead=10")))
	shoal.name(".baseappmgr", shoal.newservice("baseappmgr", ".registry"))
	shoal.newservice("game_demo")
	for i = 1, 2 do
		baseapps[i] = shoal.newservice("baseapp")
	end
	local la = shoal.newservice("loginapp")
	t.wait_until(function()
		return shoal.call(la, "lua", "address") and shoal.call(baseapps[1], "lua", "address")
			and shoal.call(baseapps[2], "lua", "address")
	end, 5000, 10, "ports listening")
	login_port = port_of(shoal.call(la, "lua", "address"))
	t.wait_until(function()
		return #shoal.call(".baseappmgr", "lua", "candidates") == 2
	end, 5000, 10, "baseappmgr sees both baseapps")
	am = account.new()
	shoal.name(".redirects", shoal.self())
end

local function play(name, register)
	local ok, code, text = bot.login { host = "127.0.0.1", port = login_port, pin = PIN, name = name,
		password = "password1", register = register }
	t.ok(ok, "login " .. name .. ": " .. tostring(code) .. " " .. tostring(text))
	local g, gcode = bot.enter(ok)
	t.ok(g, "enter " .. name .. ": " .. tostring(gcode))
	return g, ok
end

function cases.lua_bot_plays()
	local g, ok = play("luabot", true)
	t.eq(g.entered.name, "luabot", "name")
	t.eq(g:ping(5), 5, "ping")
	local x, y = g:move(-3, 4)
	t.eq(x, -3, "x")
	t.eq(y, 4, "y")
	g:say("hello")
	local chat = g:chat()
	t.eq(chat.text, "hello", "own chat")
	t.eq(chat.account, ok.account, "chat account")
	-- The resume ticket is renewed while the session lives (every half of
	-- login_ticket_ms, 1 s here) and verifies for this account and epoch.
	local ticket = require "game.ticket"
	t.eq(g:ping(6), 6, "ping")
	local first = t.ok(g.ticket, "a TICKET after ENTER_OK")
	local r = t.ok(ticket.check_resume(ticket.cluster_keys(), first, ticket.now_ms()), "the ticket verifies")
	t.eq(r.account, ok.account, "ticket account")
	t.eq(r.epoch, ok.epoch, "ticket epoch")
	shoal.sleep(700)
	t.eq(g:ping(7), 7, "ping")
	t.ok(g.ticket ~= first, "a renewed ticket")
	t.ok(g:logout(), "logout")
	local _, code = bot.login { host = "127.0.0.1", port = login_port, pin = PIN, name = "luabot",
		password = "password2" }
	t.eq(code, C.WRONG_PASSWORD, "wrong password")
	local dev = crypto.random(16)
	local gok = assert(bot.login { host = "127.0.0.1", port = login_port, pin = PIN, device = dev })
	t.eq(#gok.credential, 32, "guest credential")
	local gg = assert(bot.enter(gok))
	t.eq(gg.entered.name, "#" .. crypto.tohex(dev), "guest name")
	gg:logout()
end

function cases.locate_send_kick()
	local g, ok = play("ann", true)
	local where = am:locate(ok.account)
	t.ok(where, "located")
	t.eq(where.node, shoal.nodeof(shoal.self()), "node")
	t.eq(where.epoch, ok.epoch, "epoch")
	t.eq(tonumber(where.baseapp, 16), where.handle, "baseapp id = handle")
	local mine = shoal.call(where.handle, "lua", "sessions")[ok.account]
	t.ok(mine, "the session is on the located baseapp")
	t.ok(am:send(ok.account, proto.encode("CHAT", 0, "server", "just for you")), "send")
	local chat = g:chat()
	t.eq(chat.text, "just for you", "sent message arrives (sealed)")
	t.ok(am:kick(ok.account), "kick")
	local f, code, kind = g:expect("PONG")
	t.eq(f, nil, "kicked")
	t.eq(kind, "KICK", "a KICK")
	t.eq(code, C.LOGGED_IN_ELSEWHERE, "kick code")
	t.eq(am:locate(ok.account), nil, "offline after the kick")
	local sent, why = am:send(ok.account, proto.encode("CHAT", 0, "server", "late"))
	t.eq(sent, false, "send to an offline account")
	t.eq(why, "offline", "why")
	t.eq(am:kick(ok.account), false, "kick of an offline account")
	g:close()
end

function cases.broadcast_scopes()
	-- Two players, on the two baseapps (score picks the emptier one).
	local g1, ok1 = play("bea", true)
	-- The balancer learns online counts from the baseapps' heartbeats: wait
	-- until it has heard of bea's session before the second login.
	t.wait_until(function()
		for _, c in ipairs(shoal.call(".baseappmgr", "lua", "candidates")) do
			if c.port == ok1.port and (c.online or 0) >= 1 then
				return true
			end
		end
	end, 10000, 20, "baseappmgr sees bea online")
	local g2, ok2 = play("cid", true)
	t.ok(am:locate(ok1.account).baseapp ~= am:locate(ok2.account).baseapp, "on two baseapps")
	local function both(text)
		for _, g in ipairs { g1, g2 } do
			local c = g:chat(2000)
			t.ok(c, "broadcast " .. text .. " reached a player")
			t.eq(c.text, text, "broadcast text")
		end
	end
	t.eq(am:broadcast(proto.encode("CHAT", 0, "server", "cluster")), 2, "cluster: 2 baseapps")
	both("cluster")
	t.eq(am:broadcast(proto.encode("CHAT", 0, "server", "node"), "node"), 2, "node: 2 baseapps here")
	both("node")
	t.eq(am:broadcast(proto.encode("CHAT", 0, "server", "eu"), { tag = "eu" }), 2, "tag eu")
	both("eu")
	t.eq(am:broadcast(proto.encode("CHAT", 0, "server", "x"), { tag = "nowhere" }), 0, "no baseapp has the tag")
	g1:logout()
	g2:logout()
end

function cases.check_and_set()
	local g, ok = play("dan", true)
	g:logout()
	local dir = am.db:directory(ok.account)
	t.eq(dir.state, "offline", "offline after logout")
	local won, epoch = am:check_and_set_logged_in(ok.account, dir.epoch, "elsewhere")
	t.eq(won, true, "cas")
	t.eq(epoch, dir.epoch + 1, "epoch + 1")
	local lost, cur = am:check_and_set_logged_in(ok.account, dir.epoch, "elsewhere")
	t.eq(lost, false, "a stale cas loses")
	t.eq(cur, epoch, "current epoch")
	t.eq(am:set_logged_out(ok.account, dir.epoch), false, "a stale logout is fenced off")
	t.eq(am:set_logged_out(ok.account, epoch), true, "logout")
end

local redirects = {} -- what the redirect handler heard: {account, ok, extra}

function cases.redirect()
	local g, ok = play("fay", true)
	g:move(12, 34)
	local from = am:locate(ok.account)
	local target
	for _, h in ipairs(baseapps) do
		if h ~= from.handle then
			target = string.format("%08x", h)
		end
	end
	t.ok(am:redirect(ok.account, target, { reason = "map change", map = 7 }), "redirect")
	local r, code = g:expect("REDIRECT")
	t.ok(r, "the client got REDIRECT: " .. tostring(code))
	local g2, gcode = g:follow(r)
	t.ok(g2, "entered the target: " .. tostring(gcode))
	t.eq(g2.entered.x, 12, "the entity's state moved with it")
	t.eq(g2.entered.y, 34, "y")
	t.eq(g2.entered.epoch, ok.epoch + 1, "a new epoch")
	t.eq(am:locate(ok.account).baseapp, target, "located on the target")
	t.wait_until(function()
		return #redirects > 0
	end, 2000, 10, "the redirect handler was told")
	local ev = table.remove(redirects, 1)
	t.eq(ev[1], ok.account, "handler: account")
	t.eq(ev[2], true, "handler: ok")
	t.eq(ev[3].map, 7, "handler: extra")
	t.eq(g2:ping(3), 3, "plays on")
	-- The old token (and the REDIRECT's, once used) cannot be replayed.
	local _, rcode = bot.enter({ account = ok.account, host = r.host, port = r.port, token = r.token, c2s = r.c2s,
		s2c = r.s2c, encrypted = r.encrypted })
	t.eq(rcode, C.TOKEN_USED, "the redirect token is single use")
	-- Not to the baseapp it is on, not for an offline account.
	local moved, why = am:redirect(ok.account, target, {})
	t.eq(moved, false, "redirect to where it is")
	t.contains(why, "not another baseapp", "why")
	g2:logout()
	t.eq(am:redirect(ok.account, target, {}), false, "offline")
	-- A client that never follows: the handler hears ok = false after the token expiry.
	local g3, ok3 = play("fay", false)
	local other = am:locate(ok3.account).baseapp == target and string.format("%08x", from.handle) or target
	t.ok(am:redirect(ok3.account, other, "lost"), "redirect")
	t.ok(g3:expect("REDIRECT"), "REDIRECT")
	g3:close()
	t.wait_until(function()
		return #redirects > 0
	end, shoal.config("login_token_ms") + 3000, 50, "the handler hears of the lost client")
	ev = table.remove(redirects, 1)
	t.eq(ev[2], false, "not arrived")
	t.eq(ev[3], "lost", "its extra")
end

-- An agent serves connection after connection (baseapp_agent_pool): the
-- next login on that baseapp gets it, and a command meant for the session
-- it served before (a late push or kick naming the old account) does
-- nothing to the new one.
function cases.pooled_agents()
	local g, ok = play("gus", true)
	local where = am:locate(ok.account)
	local agent = shoal.call(where.handle, "lua", "sessions")[ok.account].agent
	t.ok(g:logout(), "logout")
	t.wait_until(function()
		return am:locate(ok.account) == nil
	end, 2000, 10, "offline")
	local g2, ok2
	for i = 1, 10 do -- until a login lands on the same baseapp (the balancer picks)
		g2, ok2 = play("gus" .. i, true)
		if am:locate(ok2.account).handle == where.handle then
			break
		end
		g2:logout()
		g2 = nil
	end
	t.ok(g2, "a login on the same baseapp")
	local before = shoal.call(where.handle, "lua", "stats").agents_reused or 0
	t.ok(before > 0, "agents reused")
	t.eq(shoal.call(where.handle, "lua", "sessions")[ok2.account].agent, agent, "the same agent serves the next one")
	shoal.send(agent, "lua", "push", proto.encode("CHAT", 0, "server", "stale"), ok.account)
	t.eq(shoal.call(agent, "lua", "kick", C.LOGGED_IN_ELSEWHERE, ok.account, ok.epoch), true, "a stale kick")
	t.ok(am:send(ok2.account, proto.encode("CHAT", 0, "server", "fresh")), "send")
	local chat = g2:chat()
	t.eq(chat.text, "fresh", "the stale push was not delivered")
	t.eq(g2:ping(9), 9, "the stale kick did nothing")
	g2:logout()
end

function cases.drain()
	local g, ok = play("eve", true)
	g:move(9, 9)
	local where = am:locate(ok.account)
	t.eq(shoal.call(where.handle, "lua", "drain"), 1, "one session drained")
	local f, code, kind = g:expect("PONG")
	t.eq(f, nil, "drained")
	t.eq(kind, "KICK", "a KICK")
	t.eq(code, C.SHUTDOWN, "KICK SHUTDOWN")
	g:close()
	local saved = am.db:load("player", ok.account)
	t.eq(saved.x, 9, "saved at the drain")
	t.eq(am:locate(ok.account), nil, "offline")
	-- The drained baseapp left the registry: baseappmgr sends players to
	-- the other one only; an ENTER that still reaches it is refused.
	t.wait_until(function()
		return #shoal.call(".baseappmgr", "lua", "candidates") == 1
	end, 5000, 10, "baseappmgr dropped the drained baseapp")
	for _ = 1, 3 do
		local lok = assert(bot.login { host = "127.0.0.1", port = login_port, pin = PIN, name = "eve",
			password = "password1" })
		t.ok(tonumber(am.db:directory(ok.account).baseapp, 16) ~= where.handle, "not the drained one")
		local gg = assert(bot.enter(lok))
		gg:logout()
	end
	local addr = shoal.call(where.handle, "lua", "address")
	local lok = assert(bot.login { host = "127.0.0.1", port = login_port, pin = PIN, name = "eve",
		password = "password1" })
	local gg, gcode = bot.enter(lok, { port = port_of(addr) })
	t.eq(gg, nil, "the drained baseapp refuses ENTER")
	t.eq(gcode, C.UNAVAILABLE, "refused while draining")
end

function cases.cleanup()
	os.remove(dbfile)
	os.remove(dbfile .. "-wal")
	os.remove(dbfile .. "-shm")
end

shoal.dispatch_commands {
	redirected = function(acc, ok, extra)
		redirects[#redirects + 1] = { acc, ok, extra }
	end,
}

t.start(cases, { "lua_bot_plays", "locate_send_kick", "broadcast_scopes", "check_and_set", "redirect", "pooled_agents", "drain", "cleanup" }, setup)
