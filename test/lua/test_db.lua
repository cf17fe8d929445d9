-- test_db: the dbmgr (cservice/dbmgr.c) through its Lua client
-- (lualib/game/db.lua): accounts, entities, indexed queries, the account
-- directory's compare-and-set, batching, flush on exit, a full queue, read
-- timeouts. Every case launches its own dbmgr on a fresh temp file. Runs
-- with config_db.lua (db_test_hooks = true: the stall command holds the
-- database thread, as a slow disk would).
--
-- SHOAL_TEST_PG set (test/e2e/test_dbmgr.py, class LuaCasesPg): the same
-- cases on PostgreSQL. It is a conninfo URI with %d; each launch gets the
-- next one (1, 2, ...: a fresh schema each, made by the runner).
local shoal = require "shoal"
local db = require "game.db"
local t = require "testlib"

local E = shoal.errors
local log = t.logfile() -- SHOAL_LOGFILE (test/lua/CMakeLists.txt)
local files = {}

local pg = os.getenv("SHOAL_TEST_PG")
local pg_next = 0

-- A fresh database: a temp file, or the next PostgreSQL database.
local function tmpfile()
	if pg then
		pg_next = pg_next + 1
		return string.format(pg, pg_next)
	end
	local path = os.tmpname()
	files[#files + 1] = path
	return path
end

-- Launches a dbmgr on path (a fresh database by default) with extra arguments.
local function launch(args, path, no_wait)
	path = path or tmpfile()
	local where = pg and "backend=postgres conninfo=" .. path or "path=" .. path
	local h = assert(shoal.launch("dbmgr", where .. " " .. (args or "")))
	if pg and not no_wait then
		-- PostgreSQL connects at the first request, on the database thread
		-- (a launch does no I/O): wait for it, so that cases with short
		-- read timeouts do not time out on the connect.
		t.wait_until(function()
			return (shoal.trycalltimeout(5000, h, "lua", "entity_load", "warmup", 0))
		end, 10000, 20, "the dbmgr reaches the server")
	end
	return h, path
end

local function fails(code, what, ok, got, text)
	t.ok(ok == nil or ok == false, what .. ": expected a failure, got " .. tostring(ok))
	t.eq(got, code, what .. " code (" .. tostring(text) .. ")")
	return text
end

-- Forks fn and waits until it has sent its request (it is then waiting
-- for the answer): a fork runs up to its call, which sends before it yields.
local function fork_sent(fn)
	local sent = false
	shoal.fork(function()
		sent = true
		fn()
	end)
	t.wait_until(function()
		return sent
	end, 2000, 1, "the fork ran")
end

-- Holds the dbmgr's thread for ms (the stall hook), from a fork.
local function stall(d, ms)
	fork_sent(function()
		d:request("stall", ms)
	end)
end

local cases = {}

function cases.accounts()
	local d = db.new(launch())
	local id = assert(d:create_account("alice", "hash-a"))
	t.eq(math.type(id), "integer", "account id")
	local bob = assert(d:create_account("bob")) -- no password yet (a guest)
	t.ok(bob ~= id, "ids differ")
	local text = fails(E.NAMEEXIST, "name taken", d:create_account("alice", "other"))
	t.contains(text, "name taken")
	local a = d:account("alice")
	t.same(a, { id = id, name = "alice", hash = "hash-a" }, "account")
	t.eq(d:account("bob").hash, nil, "no hash")
	t.eq(d:account("nobody"), nil, "no such account")
	t.eq(d:set_password(bob, "hash-b"), true, "set_password")
	t.eq(d:account("bob").hash, "hash-b", "new hash")
	t.eq(d:set_password(987654, "x"), false, "set_password of no account")
	-- Names are bytes: not text-compared, any byte but NUL.
	local odd = "名前 with spaces\1"
	local oid = assert(d:create_account(odd, "h"))
	t.eq(d:account(odd).id, oid, "odd name")
end

function cases.entities()
	local d = db.new(launch())
	local value = { name = "hero", level = 3, pos = { x = 1.5, y = -2 }, bag = { "sword", "shield" }, flag = true }
	t.eq(d:save("player", 1, value), true, "save")
	t.same(d:load("player", 1), value, "load")
	t.eq(d:load("player", 2), nil, "never saved")
	t.eq(d:load("monster", 1), nil, "another type")
	value.level = 4
	assert(d:save("player", 1, value))
	t.eq(d:load("player", 1).level, 4, "overwritten")
	assert(d:save("note", 7, "just a string"))
	t.eq(d:load("note", 7), "just a string", "a scalar value")
	t.eq(d:delete("player", 1), true, "delete")
	t.eq(d:delete("player", 1), false, "delete again")
	t.eq(d:load("player", 1), nil, "deleted")
end

function cases.indexed_query()
	local d = db.new(launch())
	assert(d:declare_index("player", "level"))
	assert(d:declare_index("player", "guild"))
	for i = 1, 20 do
		assert(d:save("player", i, { name = "p" .. i, level = i % 10, guild = i <= 5 and "red" or "blue" }))
	end
	local rows = d:query("player", "level", 3, 5)
	t.eq(#rows, 6, "levels 3..5")
	for k, row in ipairs(rows) do
		t.between(row.value.level, 3, 5, "level of row " .. k)
		t.eq(row.value.name, "p" .. row.id, "row value")
		if k > 1 then
			t.ok(rows[k - 1].value.level <= row.value.level, "ordered by level")
		end
	end
	t.eq(#d:query("player", "level", 7), 2, "level = 7")
	t.eq(#d:query("player", "guild", "red"), 5, "guild red")
	t.eq(#d:query("player", "level", 0, 9, 4), 4, "limit")
	-- A save moves the entity in the index; one without the column drops it.
	assert(d:save("player", 7, { name = "p7", level = 9, guild = "red" }))
	t.eq(#d:query("player", "level", 7), 1, "moved out of 7")
	t.eq(#d:query("player", "guild", "red"), 6, "moved into red")
	assert(d:save("player", 7, { name = "p7" }))
	t.eq(#d:query("player", "guild", "red"), 5, "no guild: not indexed")
	assert(d:delete("player", 1))
	t.eq(#d:query("player", "guild", "red"), 4, "deleted: not indexed")
	-- Undeclared columns are refused; a type with no index has no rows.
	local ok, code = d:request("entity_save", "player", 99, shoal.packstring({}), "rank", 1)
	t.eq(ok, false, "undeclared column")
	t.eq(code, E.INVAL, "undeclared column code")
	t.eq(#d:query("monster", "level", 1, 100), 0, "no such index")
	fails(E.INVAL, "mixed bounds", d:query("player", "level", 1, "z"))
	-- Another client sees the declarations (asked at its first save).
	local d2 = db.new(d.addr)
	assert(d2:save("player", 50, { level = 42 }))
	t.eq(d:query("player", "level", 42)[1].id, 50, "second client indexes")
end

function cases.cas_login()
	local d = db.new(launch())
	local acc = assert(d:create_account("carol", "h"))
	t.same(d:directory(acc), { epoch = 0 }, "fresh directory row")
	local ok, epoch = d:cas_login(acc, 0, "baseapp1")
	t.eq(ok, true, "first login")
	t.eq(epoch, 1, "new epoch")
	t.same(d:directory(acc), { epoch = 1, baseapp = "baseapp1", state = "logging_in" }, "row")
	ok, epoch = d:cas_login(acc, 0, "baseapp2")
	t.eq(ok, false, "stale epoch conflicts")
	t.eq(epoch, 1, "current epoch")
	t.eq(d:directory(acc).baseapp, "baseapp1", "the loser changed nothing")
	t.eq(d:set_state(acc, 1, "online"), true, "fenced state change")
	ok, epoch = d:set_state(acc, 0, "offline")
	t.eq(ok, false, "a stale epoch is refused")
	t.eq(epoch, 1, "current epoch")
	t.eq(d:directory(acc).state, "online", "state")
	-- Racing logins: exactly one wins each epoch.
	local wins, losses = 0, 0
	local fns = {}
	for i = 1, 20 do
		fns[i] = function()
			local won, e = d:cas_login(acc, 1, "b" .. i)
			if won then
				wins = wins + 1
				t.eq(e, 2, "winner's epoch")
			else
				losses = losses + 1
				t.eq(e, 2, "loser sees the winner's epoch")
			end
		end
	end
	t.join(fns, 5000)
	t.eq(wins, 1, "one winner")
	t.eq(losses, 19, "the rest lose")
	fails(E.INVAL, "no such account", d:cas_login(424242, 0, "b"))
	t.eq(d:directory(424242), nil, "no row")
end

-- Requests that are not what the dbmgr takes: each gets INVAL (or TOOBIG)
-- at once, with a line saying why, and the dbmgr goes on.
function cases.bad_input()
	local h = launch("max_value_kb=4")
	local d = db.new(h)
	local function bad(code, pattern, ...)
		local ok, got, text = d:request(...)
		t.eq(ok, false, "refused: " .. pattern)
		t.eq(got, code, "code for " .. pattern .. " (" .. tostring(text) .. ")")
		t.contains(text, pattern)
		t.ok(not text:find("\n"), "one line")
	end
	bad(E.INVAL, "unknown command 'drop_everything'", "drop_everything")
	bad(E.INVAL, "the command must be a string", 42)
	bad(E.INVAL, "got 0 values")
	bad(E.INVAL, "is a table", "entity_load", { "player" }, 1)
	bad(E.INVAL, "argument 2 must be an integer, got string", "entity_load", "player", "1")
	bad(E.INVAL, "argument 2 must be an integer, got float", "entity_load", "player", 1.5)
	bad(E.INVAL, "argument 1 must be a name", "entity_load", "bad type!", 1)
	bad(E.INVAL, "argument 1 must be a name", "entity_load", string.rep("x", 65), 1)
	bad(E.INVAL, "expected 2 arguments, got 1", "entity_load", "player")
	bad(E.INVAL, "expected 2 arguments, got 3", "entity_load", "player", 1, 2)
	bad(E.INVAL, "then (column, value) pairs", "entity_save", "player", 1, "v", "level")
	bad(E.INVAL, "account name", "account_create", "", "h")
	bad(E.INVAL, "account name", "account_create", "a\0b", "h")
	bad(E.INVAL, "at most 1024 bytes", "account_create", "x", string.rep("h", 1025))
	bad(E.INVAL, "limit 0 out of", "entity_query", "player", "level", 1, 2, 0)
	bad(E.INVAL, "stall: 70000 ms out of", "stall", 70000)
	bad(E.INVAL, "at most 39 arguments", "entity_load", table.unpack({}, 1, 45))
	bad(E.TOOBIG, "over db_max_value_kb", "entity_save", "player", 1, string.rep("v", 4097))
	local ok, code = d:save("player", 1, { blob = string.rep("v", 5000) })
	t.eq(ok, nil, "a huge entity")
	t.eq(code, E.TOOBIG, "huge entity code")
	-- A TEXT request is not what it takes.
	local tok, tcode, ttext = shoal.trycall(h, "text", "entity_load player 1")
	t.eq(tok, false, "text request")
	t.eq(tcode, E.INVAL, "text request code")
	t.contains(ttext, "requests are lua messages")
	-- A Lua client refuses what cannot be packed before sending.
	t.raises("function", d.save, d, "player", 2, { f = print })
	-- Still serving.
	assert(d:save("player", 3, { ok = true }))
	t.same(d:load("player", 3), { ok = true }, "alive after bad input")
end

-- The stall hook is refused unless db_test_hooks is set: not a way for
-- anyone to freeze a production dbmgr. (This config sets it; the check is
-- in cservice/dbmgr.c check_command, and docs/dbmgr.md.)

-- Writes past db_queue_max fail at once with FULL; those queued succeed.
function cases.full_queue()
	local d = db.new(launch("queue_max=8 batch_ms=0"))
	assert(d:save("item", 0, {})) -- the client asks a type's indexed columns at its first save
	stall(d, 600) -- a read, so it takes no write slot
	local done, okcount = 0, 0
	for i = 1, 8 do
		fork_sent(function()
			if d:save("item", i, { n = i }) then
				okcount = okcount + 1
			end
			done = done + 1
		end)
	end
	local ms, r = t.timed(d.save, d, "item", 99, { n = 99 })
	t.eq(r[2], nil, "the ninth write is refused")
	t.eq(r[3], E.FULL, "FULL (" .. tostring(r[4]) .. ")")
	t.contains(r[4], "queue full")
	t.ok(ms < 500, "refused at once, not after the stall: " .. ms .. " ms")
	t.wait_until(function()
		return done == 8
	end, 5000, 10, "the queued writes")
	t.eq(okcount, 8, "the queued writes all succeed")
	t.eq(d:load("item", 8).n, 8, "and are there")
	assert(d:save("item", 99, { n = 99 }), "room again")
end

-- A read not answered within its timeout fails with TIMEOUT: on the client
-- side (the call's timeout) and on the dbmgr's (a read that waited too
-- long is answered TIMEOUT without running).
function cases.read_timeout()
	local h = launch("read_timeout_ms=150")
	local d = db.new(h, { read_timeout_ms = 150 })
	assert(d:save("player", 1, { a = 1 }))
	stall(d, 500)
	local ms, r = t.timed(d.load, d, "player", 1)
	t.eq(r[2], nil, "timed out")
	t.eq(r[3], E.TIMEOUT, "TIMEOUT code")
	t.between(ms, 100, 450, "after about 150 ms")
	-- The dbmgr's own bound: a raw read with a long call timeout.
	stall(d, 400)
	local ok, code, text = shoal.trycall(h, "lua", "entity_load", "player", 1)
	t.eq(ok, false, "stale read")
	t.eq(code, E.TIMEOUT, "the dbmgr answers TIMEOUT")
	t.contains(text, "over db_read_timeout_ms=150")
	t.same(d:load("player", 1), { a = 1 }, "reads work again")
end

-- A batch commits at db_batch_max writes, or db_batch_ms after its first.
function cases.batching()
	local d = db.new(launch("batch_max=4 batch_ms=10000"))
	local done = 0
	local fns = {}
	for i = 1, 4 do
		fns[i] = function()
			assert(d:save("b", i, i))
			done = done + 1
		end
	end
	t.join(fns, 5000) -- the fourth write fills the batch: no 10 s wait
	t.eq(done, 4, "a full batch commits at once")
	local d2 = db.new(launch("batch_max=1000 batch_ms=300"))
	local ms = t.timed(d2.save, d2, "b", 1, 1)
	t.ok(ms >= 250, "a lone write waits for db_batch_ms: " .. ms .. " ms")
end

-- Writes still in an open batch when the dbmgr is killed are committed
-- (release flushes); a new dbmgr on the file finds them.
function cases.flush_on_kill()
	local h, path = launch("batch_max=65536 batch_ms=10000")
	local d = db.new(h)
	for i = 1, 5 do -- raw saves: no index_list read before them
		fork_sent(function()
			d:request("entity_save", "f", i, shoal.packstring({ i = i }))
		end)
	end
	-- A read runs after the writes queued before it: they are in the batch.
	t.eq(d:load("f", 5).i, 5, "the writes ran (uncommitted)")
	shoal.kill(h)
	-- The kill is asynchronous: the old dbmgr's release (which commits the
	-- open batch) may still run on another worker while the new one opens
	-- the file, so the new one may read before that commit: wait for it.
	local d2 = db.new(launch("", path))
	t.wait_until(function()
		return d2:load("f", 5) ~= nil
	end, 5000, 20, "the killed dbmgr's batch committed")
	for i = 1, 5 do
		t.same(d2:load("f", i), { i = i }, "entity " .. i .. " survived")
	end
end

-- The database goes away (the fail_commits hook: the next commits fail as
-- a lost server's would): writes wait and are retried with a backoff, land
-- in order when it is back, nothing acknowledged early; past db_queue_max
-- writes fail at once with FULL; one alert is logged, and the return.
function cases.database_away()
	local f = assert(io.open(os.getenv("SHOAL_LOGFILE"), "r"))
	local from = f:seek("end")
	f:close()
	local d = db.new(launch("queue_max=4 batch_ms=0"))
	assert(d:save("x", 0, {})) -- asks the type's indexed columns once
	assert(d:request("fail_commits", 6)) -- about 10+20+...+320 = 630 ms away
	local done, order = 0, {}
	local t0 = shoal.now()
	for i = 1, 4 do
		fork_sent(function()
			assert(d:save("x", 1, { v = i }))
			order[#order + 1] = i
			done = done + 1
		end)
	end
	local ok, code = d:save("x", 2, {})
	t.eq(ok, nil, "a write past the bound while the database is away")
	t.eq(code, E.FULL, "FULL at once")
	t.ok(done == 0, "nothing acknowledged while the database is away")
	log.wait("dbmgr: the database is unavailable (dbmgr: commit failed by the fail_commits test hook)")
	t.wait_until(function()
		return done == 4
	end, 5000, 10, "the writes land once the database is back")
	t.ok(shoal.now() - t0 >= 500, "they waited for the backoff")
	t.same(order, { 1, 2, 3, 4 }, "answered in order")
	t.same(d:load("x", 1), { v = 4 }, "landed in order: the last write wins")
	log.wait("dbmgr: the database is back after")
	f = assert(io.open(os.getenv("SHOAL_LOGFILE"), "r"))
	f:seek("set", from)
	local _, alerts = f:read("a"):gsub("the database is unavailable", "")
	f:close()
	t.eq(alerts, 1, "one alert per outage")
end

-- A commit whose answer is lost (the connection cut right after COMMIT;
-- the lose_commits hook): the dbmgr asks the database whether that batch
-- landed and answers it as committed, never running it twice (a replayed
-- cas_login would answer false, a replayed account_create NAMEEXIST).
-- SQLite's commits are never in doubt: the hook is refused there.
function cases.lost_commit_answer()
	local d = db.new(launch("batch_ms=0"))
	if not pg then
		local ok, code = d:request("lose_commits", 1)
		fails(E.INVAL, "lose_commits on sqlite", ok, code)
		return
	end
	local id = assert(d:create_account("carol", "h"))
	assert(d:request("lose_commits", 1))
	local ok, epoch = d:cas_login(id, 0, "b1")
	t.eq(ok, true, "cas_login answered as committed")
	t.eq(epoch, 1, "its new epoch")
	t.same(d:directory(id), { epoch = 1, baseapp = "b1", state = "logging_in" }, "it ran once")
	assert(d:request("lose_commits", 1))
	local id2, code = d:create_account("dave", "h")
	t.ok(math.type(id2) == "integer", "account_create answered its id, not " .. tostring(code and shoal.errname(code)))
	t.eq(d:account("dave").id, id2, "the account is there")
	t.eq(d:save("x", 1, { v = 1 }), true, "the next batch commits as usual")
end

-- PostgreSQL: one dbmgr owns a set of tables (an advisory lock); a second
-- one on them fails its launch, and takes them once the first is gone.
-- One owner per set of tables: a second dbmgr on them launches (the
-- launch does no I/O), but it is "away" until the first one is gone: its
-- reads time out, one alert says why, and once the first has gone it takes
-- the tables and finds what the first saved.
function cases.one_owner()
	if not pg then
		return -- SQLite: a second process waits for the file's lock (test_dbmgr.py)
	end
	local h, where = launch()
	local d = db.new(h)
	assert(d:save("o", 1, { v = 1 }))
	local h2 = launch("read_timeout_ms=300", where, "no wait: it cannot reach the tables")
	local d2 = db.new(h2, { read_timeout_ms = 300 })
	local ok, code = d2:load("o", 1)
	t.eq(ok, nil, "the second one cannot read while the first holds the tables")
	t.eq(code, E.TIMEOUT, "TIMEOUT")
	log.wait("another dbmgr holds these tables")
	shoal.kill(h)
	local got
	t.wait_until(function()
		got = d2:load("o", 1)
		return got ~= nil
	end, 10000, 100, "the second dbmgr takes the tables once the first is gone")
	t.same(got, { v = 1 }, "and finds what the first saved")
	shoal.kill(h2)
end

-- No database I/O on a worker: a server that cannot be reached when the
-- dbmgr launches is an outage (the launch succeeds, reads time out, writes
-- queue, one alert), not a launch that blocks its worker for the connect.
function cases.server_away_at_start()
	if not pg then
		return -- SQLite opens a local file at launch: no server to wait for
	end
	local h = assert(shoal.launch("dbmgr",
		"backend=postgres conninfo=postgresql:///x?host=/nonexistent-dir read_timeout_ms=200"))
	local d = db.new(h, { read_timeout_ms = 200 })
	local ok, code = d:load("o", 1)
	t.eq(ok, nil, "no read")
	t.eq(code, E.TIMEOUT, "TIMEOUT")
	log.wait("dbmgr: the database is unavailable")
	shoal.kill(h)
end

function cases.bad_launch()
	local nowhere = pg and "backend=postgres conninfo=host" or "path=/nonexistent-dir/x.db"
	for _, args in ipairs({ nowhere, "bogus=1", "sync=sometimes", "backend=oracle",
		"batch_max=0", "queue_max=x" }) do
		t.raises("cannot launch dbmgr", shoal.launch, "dbmgr", args)
	end
end

local order = { "accounts", "entities", "indexed_query", "cas_login", "bad_input", "full_queue", "read_timeout",
	"batching", "flush_on_kill", "database_away", "lost_commit_answer",
	"one_owner", "server_away_at_start", "bad_launch" }

t.start(cases, order, log.mark)

-- Leave no temp files behind (the node exits right after the last case).
shoal.on_exit(function()
	for _, p in ipairs(files) do
		os.remove(p)
		os.remove(p .. "-wal")
		os.remove(p .. "-shm")
	end
end)
