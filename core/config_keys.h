/*
 * config_keys.h - every config key of the node and of the services that
 * ship with Shoal, in one table: the schema. Nothing else writes a default.
 *
 * X(name, type, default, min, max, doc)
 *   type     INT, BOOL or STRING (enum shoal_config_type)
 *   default  text; a leading "$root/" or "$build/" is the source or build tree
 *   min/max  the range of an INT (inclusive); unused for the others
 *   doc      one line, shown in the README's table (`shoal --config-keys`)
 *
 * core/config.c validates every key at start against this table (a key of
 * the wrong type or out of range exits 1 with one line naming it; an unknown
 * key gets a warning naming the closest known one); C reads values through
 * shoal_config_int/bool/string, Lua through shoal.config(name). A service
 * added later declares its keys here, in its own group.
 */
#ifndef SHOAL_CONFIG_KEYS_H
#define SHOAL_CONFIG_KEYS_H

#define SHOAL_CONFIG_KEYS(X)                                                                                         \
  /* ---- the node */                                                                                                \
  X(thread, INT, "2", 1, 64, "worker threads")                                                                       \
  X(node, INT, "1", 1, 255, "node id, the high 8 bits of every handle")                                              \
  X(start, STRING, "main", 0, 0, "the start service and its arguments, e.g. `\"game 42\"`")                        \
  X(bootstrap, STRING, "bootstrap", 0, 0, "the first Lua service (starts clusterd, the console and `start`)")        \
  X(luaservice, STRING, "$root/service/?.lua", 0, 0, "where Lua services are found")                                 \
  X(lualib, STRING, "$root/lualib/?.lua", 0, 0, "`package.path` of services")                                        \
  X(cpath, STRING, "$build/cservice/?.so", 0, 0, "where C services are found")                                       \
  X(lua_cpath, STRING, "/usr/lib/x86_64-linux-gnu/lua/5.4/?.so;/usr/local/lib/lua/5.4/?.so", 0, 0,                   \
    "`package.cpath` of services (cjson, lpeg)")                                                                     \
  X(lualib_debuginfo, BOOL, "false", 0, 0, "keep debug info of lualib modules (tracebacks name their lines)")        \
  X(logfile, STRING, "", 0, 0, "log file (empty: stdout; SIGHUP reopens it)")                                        \
  X(loglevel, STRING, "info", 0, 0, "debug, info, warn or error")                                                    \
  X(log_format, STRING, "text", 0, 0, "`text` (one line: time, level, service, text) or `json` (one JSON object "   \
    "a line: docs/operations.md, \"Logs\")")                                                                       \
  X(call_timeout, INT, "30000", 1, 86400000, "default timeout of every call, ms")                                    \
  X(call_slow_ms, INT, "5000", 0, 86400000, "a call unanswered this long logs a warning with the callee and the "  \
    "caller's traceback, once (only calls whose timeout is longer; 0: off)")                                       \
  X(memlimit, INT, "0", 0, 1099511627776, "per-service Lua memory limit in bytes (0: none)")                         \
  X(monitor_stuck_ms, INT, "5000", 0, 86400000, "report a service stuck in one message this long, ms (0: off)")      \
  X(monitor_interrupt, BOOL, "false", 0, 0, "also interrupt a stuck service (its message fails with an error)")      \
  X(shutdown_timeout, INT, "10000", 0, 86400000, "ms to wait for services to exit on SIGTERM")                       \
  X(spin_us, INT, "50", 0, 100000, "how long an idle worker spins before it sleeps, us")                             \
  X(weight, INT, "0", -1, 31, "batch per turn: the queue length >> weight (-1: one message)")                        \
  /* ---- sockets */                                                                                                 \
  X(socket_spin_us, INT, "20", 0, 100000, "how long the polling worker busy-polls epoll_wait before it blocks, us")  \
  X(max_sockets, INT, "16384", 16, 1048576, "open sockets; past it listen/connect/accept fail with a logged error")   \
  X(socket_warn_kb, INT, "1024", 1, 1048576, "a socket's write buffer past this warns its owner (again at doubling)") \
  X(socket_limit_kb, INT, "16384", 1, 4194304, "past this a socket's write buffer closes the connection")             \
  X(socket_close_timeout_ms, INT, "3000", 0, 3600000, "a close waits this long for the write buffer to drain, then "  \
    "aborts the socket, ms (0: at the next poll)")                                                                  \
  /* ---- the gate (cservice/gate.c, docs/gate.md) */                                                                \
  X(gate_write_limit_kb, INT, "1024", 0, 4194304, "cap of a gate client's write buffer; past it the connection is "  \
    "closed (0: socket_limit_kb, always the ceiling)")                                                               \
  X(gate_agent_backlog, INT, "1024", 16, 1048576, "messages waiting in a connection's agent past which the gate "    \
    "stops reading that connection")                                                                                 \
  /* ---- the cluster */                                                                                             \
  X(cluster, STRING, "", 0, 0, "the peers, `\"1@127.0.0.1:7001,2@127.0.0.1:7002\"` (empty: no cluster)")             \
  X(harbor, STRING, "", 0, 0, "HOST:PORT this node's harbor listens on, if not its entry in `cluster`")              \
  X(cluster_secret_env, STRING, "SHOAL_CLUSTER_SECRET", 0, 0, "the environment variable holding the cluster secret") \
  X(heartbeat_ms, INT, "1000", 10, 600000, "harbor heartbeat and registry status interval, ms")                      \
  X(heartbeat_misses, INT, "3", 1, 100, "a peer silent this many heartbeats is lost")                                \
  X(harbor_queue_kb, INT, "16384", 1, 1073741824, "bytes queued for one peer node; past it sends fail (full)")       \
  X(harbor_max_message_kb, INT, "65536", 1, 4194304, "largest message across nodes")                                 \
  X(harbor_max_unproven, INT, "64", 1, 256, "accepted connections that may wait at once to prove the secret; "      \
    "one more closes the oldest")                                                                                    \
  X(remote_debug, BOOL, "false", 0, 0, "accept DEBUG messages (inspect, run code) from other nodes")                 \
  X(tags, STRING, "", 0, 0, "this node's tags, comma separated (cluster.peers(tag))")                                \
  X(registry, BOOL, "false", 0, 0, "run the cluster registry on this node")                                          \
  X(registry_suspect, INT, "2", 1, 1000, "missed heartbeats before a component is suspect")                          \
  X(registry_dead, INT, "4", 1, 1000, "missed heartbeats before a component is dead")                                \
  X(registry_probe, INT, "0", 0, 86400000, "the registry's TCP probe interval, ms (0: off)")                         \
  /* ---- the debug console (service/debug_console.lua) */                                                           \
  X(console, BOOL, "false", 0, 0, "start the debug console from bootstrap")                                          \
  X(console_port, INT, "-1", -1, 65535, "the console's TCP port (0: a free one, logged; -1: none)")                                            \
  X(console_host, STRING, "127.0.0.1", 0, 0, "the address the console binds to")                                     \
  X(console_timeout, INT, "3000", 1, 3600000, "timeout of the calls a console command makes, ms")                    \
  X(console_max_sessions, INT, "16", 1, 1000, "console sessions at once; when full, a newcomer takes the place of "  \
    "the session idle longest")                                                                                      \
  X(console_idle_ms, INT, "300000", 100, 86400000, "a console session that sends no whole line this long is closed, ms") \
  /* ---- routing (lualib/shoal/router.lua) */                                                                       \
  X(router_cache_ms, INT, "1000", 0, 3600000, "how long an agent caches the router's table, ms")                   \
  /* ---- baseappmgr (lualib/game/balance.lua, service/baseappmgr.lua) */                                            \
  X(baseappmgr_strategy, STRING, "score", 0, 0,                                                                      \
    "round_robin, least_connections, weighted_random, consistent_hash or score")                                     \
  X(baseappmgr_vnodes, INT, "160", 1, 4096, "consistent_hash: points of each baseapp on the ring")                   \
  X(baseappmgr_weights, STRING, "", 0, 0, "weighted_random: `\"id=w,...\"` for baseapps whose status has no weight " \
    "(others: 1)")                                                                                                   \
  X(baseappmgr_max_online, INT, "5000", 1, 100000000, "players a baseapp holds at most, unless its status says "     \
    "max_online")                                                                                                    \
  X(baseappmgr_max_mem_mb, INT, "0", 0, 1048576, "memory a baseapp may use, MB, unless its status says max_mem "     \
    "(0: no limit)")                                                                                                 \
  X(baseappmgr_max_cpu, INT, "100", 1, 100000, "CPU a baseapp may use, percent of one core")                        \
  X(baseappmgr_high_water, INT, "90", 1, 100, "percent of a limit past which a baseapp gets no new players")        \
  X(baseappmgr_score_cpu, INT, "30", 0, 1000, "score: weight of CPU use")                                           \
  X(baseappmgr_score_mem, INT, "20", 0, 1000, "score: weight of memory use")                                        \
  X(baseappmgr_score_online, INT, "50", 0, 1000, "score: weight of the online count")                               \
  X(baseappmgr_starting_penalty, INT, "50", 0, 100000, "score: points added for a baseapp still starting")          \
  X(baseappmgr_candidates, INT, "8", 1, 1024, "gates in the candidate list a client gets at login") \
  /* ---- crypto (lualib/src/lua-crypto.c, docs/crypto.md) */                                                        \
  X(crypto_kdf, STRING, "scrypt", 0, 0, "password hash of new hashes: `scrypt` or `pbkdf2-sha256`")                   \
  X(crypto_scrypt_n, INT, "16384", 2, 1048576, "scrypt cost N (a power of two; 128 * r * N bytes at most 256 MiB)")   \
  X(crypto_scrypt_r, INT, "8", 1, 32, "scrypt block size r")                                                         \
  X(crypto_scrypt_p, INT, "1", 1, 16, "scrypt parallelism p")                                                        \
  X(crypto_pbkdf2_iter, INT, "600000", 1, 10000000, "PBKDF2-HMAC-SHA256 iterations")                                \
  X(crypto_threads, INT, "2", 1, 64, "helper threads that hash passwords (off the workers)")                         \
  X(crypto_queue, INT, "256", 1, 1000000, "password jobs that may wait; past it hash/verify fail at once (FULL)") \
  /* ---- persistence (cservice/dbmgr.c, docs/dbmgr.md) */                                                          \
  X(db_backend, STRING, "sqlite", 0, 0, "the dbmgr's database: sqlite or postgres")                                  \
  X(db_path, STRING, "shoal.db", 0, 0, "the SQLite database file")                                                   \
  X(db_conninfo, STRING, "", 0, 0, "the PostgreSQL server: a libpq conninfo string (empty: libpq's PG* defaults)")   \
  X(db_synchronous, STRING, "full", 0, 0, "SQLite synchronous: full (a commit is on the disk) or normal")           \
  X(db_batch_max, INT, "1024", 1, 65536, "writes per transaction at most")                                           \
  X(db_batch_ms, INT, "2", 0, 10000, "a batch commits this long after its first write at the latest, ms")           \
  X(db_queue_max, INT, "65536", 1, 16777216, "writes queued or uncommitted at most; past it a write fails (full)")   \
  X(db_read_timeout_ms, INT, "5000", 1, 86400000, "a database read not answered this long fails (timeout), ms")     \
  X(db_max_value_kb, INT, "1024", 1, 65536, "the largest entity value the dbmgr stores, KB")                         \
  X(db_test_hooks, BOOL, "false", 0, 0, "allow the dbmgr's test commands (stall, fail_commits)")                  \
  /* ---- loginapp (lualib/game/login.lua, docs/loginapp.md) */                                                       \
  X(login_host, STRING, "0.0.0.0", 0, 0, "the address the login port listens on")                                    \
  X(login_port, INT, "0", 0, 65535, "the login port (0: a free port, logged at start)")                              \
  X(login_maxconn, INT, "4096", 1, 1048576, "login connections at once")                                             \
  X(login_max_frame, INT, "1024", 64, 65535, "the largest frame a login client may send, bytes")                    \
  X(login_timeout_ms, INT, "5000", 100, 600000, "a login client that does not finish a step this long is closed, ms") \
  X(login_max_inflight, INT, "256", 1, 1000000, "logins in progress at once; past it clients get BUSY, retry after") \
  X(login_rate_per_addr, INT, "20", 0, 1000000, "new logins a second from one IP address (0: no limit)")             \
  X(login_rate_burst, INT, "40", 1, 1000000, "logins one IP address may make at once before its rate applies")      \
  X(login_retry_ms, INT, "200", 1, 600000, "the retry_after_ms a busy loginapp tells its clients (more, with jitter)") \
  X(login_static_key, STRING, "", 0, 0, "the loginapp's static X25519 private key, hex (empty: one is made at start " \
    "and its public key logged; clients pin the public key)")                                                        \
  X(login_token_ms, INT, "10000", 100, 3600000, "how long a login token is valid, ms")                              \
  X(login_ticket_ms, INT, "300000", 1000, 86400000, "how long a resume ticket is valid, ms")                        \
  X(login_kick_timeout_ms, INT, "3000", 10, 600000, "how long a login waits for the old session's kick, ms")        \
  X(login_dbmgr, STRING, ".dbmgr", 0, 0, "the dbmgr the loginapp uses (a local .name or a cluster name)")          \
  X(login_baseappmgr, STRING, ".baseappmgr", 0, 0, "not read any more: the loginapp finds the active baseappmgr through the registry lease (kept so old configs load)") \
  /* ---- baseapp (lualib/game/baseapp.lua, docs/baseapp.md) */                                                       \
  X(baseapp_host, STRING, "0.0.0.0", 0, 0, "the address the baseapp's gate listens on")                              \
  X(baseapp_public_host, STRING, "127.0.0.1", 0, 0, "the gate address clients are told (and the registry)")         \
  X(baseapp_port, INT, "0", 0, 65535, "the baseapp's gate port (0: a free port, logged at start)")                  \
  X(baseapp_maxconn, INT, "8192", 1, 1048576, "client connections of the baseapp's gate at once")                   \
  X(baseapp_max_frame, INT, "4096", 64, 65535, "the largest frame a game client may send, bytes")                   \
  X(baseapp_idle_ms, INT, "60000", 0, 86400000, "a game client silent this long is closed, ms (0: never)")           \
  X(baseapp_enter_timeout_ms, INT, "5000", 10, 600000, "a game client that sends no ENTER this long is closed, ms") \
  X(baseapp_save_ms, INT, "10000", 10, 86400000, "a changed player entity is saved at least this often, ms")        \
  X(baseapp_encrypt, BOOL, "false", 0, 0, "seal game frames after ENTER with the session keys (ChaCha20-Poly1305)") \
  X(baseapp_dbmgr, STRING, ".dbmgr", 0, 0, "the dbmgr the baseapp uses (a local .name or a cluster name)")          \
  X(baseapp_registry, STRING, "", 0, 0, "the registry the baseapp registers in (empty: the cluster's)")             \
  X(baseapp_heartbeat_ms, INT, "1000", 10, 3600000, "the baseapp's registry heartbeat interval, ms")               \
  X(baseapp_redirect_to, STRING, "", 0, 0, "the service told of each redirect that arrives (one-way lua message: " \
    "redirected, account, ok, extra); empty: none")                                                     \
  /* ---- login path performance (docs/baseapp.md, docs/loginapp.md) */                                                \
  X(baseapp_agent_pool, INT, "256", 0, 1000000, "idle baseapp agents kept for the next connections (0: a new agent " \
    "service per connection, which exits after it)")                                                     \
  X(login_services, INT, "2", 1, 64, "login worker services per loginapp: the gate spreads connections over them, " \
    "so logins run on several worker threads (1: the loginapp works them itself)")                                  \
  /* ---- object: distributed objects (lualib/game/object.lua, docs/objects.md) */                                     \
  X(object_save_interval_ms, INT, "1000", 0, 86400000, "an owner writes a changed object to dbmgr at least this "   \
    "often, ms: the loss bound when the owner dies (0: every save is written before it returns)")                    \
  X(object_timeout_ms, INT, "3000", 10, 600000, "the bound of one fetch, fetch_many or call of an object, ms")      \
  X(object_hold_ms, INT, "20", 0, 60000, "a fetched object is not lent away for this long (or until its save), ms")\
  X(object_max_leases, INT, "65536", 1, 4194304, "leases the cluster's registry holds at most (objects take one "   \
    "each while owned; a lease keeps its epoch for ever)")                                             \
  /* ---- cellapp, cellappmgr, the player's cell part (lualib/game/cellapp.lua, cellappmgr.lua, cell.lua;    \
     docs/cellapp.md, docs/cellappmgr.md) */                                                                         \
  X(cellapp_tick_ms, INT, "50", 1, 60000, "how often a cellapp ticks its spaces (AOI events out), ms")               \
  X(cellapp_snapshot_ms, INT, "1000", 10, 3600000, "how often a cellapp snapshots each space to a peer cellapp " \
    "and dbmgr, ms: the state-loss bound (RPO) of a dead cellapp")                                                   \
  X(cellapp_heartbeat_ms, INT, "1000", 10, 3600000, "the cellapp's registry heartbeat interval, ms")               \
  X(cellapp_registry, STRING, "", 0, 0, "the registry the cellapp registers in (empty: the cluster's)")             \
  X(cellapp_dbmgr, STRING, ".dbmgr", 0, 0, "the dbmgr that keeps space snapshots (type \"space\"; empty: none)")    \
  X(cellapp_max_pending, INT, "256", 1, 1000000, "out-of-order messages a cellapp holds per entity while it waits " \
    "for a missing sequence number (past it: it skips the gap, logged)")                                            \
  X(world_spaces, STRING, "", 0, 0, "the spaces cellappmgr creates on first use, comma separated; a player " \
    "with no saved space enters the first (empty: no world: players have no cell part)")                                                                       \
  X(world_width, INT, "1000", 1, 1000000000, "the width of a space created by name, units")                            \
  X(world_height, INT, "1000", 1, 1000000000, "the height of a space created by name, units")                          \
  X(world_radius, INT, "50", 1, 1000000000, "the view radius of a space created by name, units")                   \
  X(world_max_speed, INT, "100", 0, 1000000000, "the speed cap of a space created by name, units a second (0: none)")  \
  X(cellappmgr_registry, STRING, "", 0, 0, "the registry cellappmgr watches and holds its lease in (empty: the cluster's)") \
  X(cell_check_ms, INT, "1000", 10, 600000, "how often a player's cell part asks cellappmgr whether its space " \
    "moved (a missed notice), ms: one call to cellappmgr per player per interval")  \
  /* ---- failover: resume, peer backups, the failover service (docs/failover.md) */                                 \
  X(baseapp_backup_ms, INT, "100", 0, 3600000, "a changed player entity is copied to the backup peer this often, "  \
    "ms: the state a resume may lose (0: no backups, a resume restores the last save)")                              \
  X(baseapp_backup_max, INT, "100000", 0, 100000000, "backups of other baseapps' entities one baseapp holds at most") \
  X(baseapp_resume_kick_ms, INT, "1000", 10, 600000, "a RESUME waits this long for the old holder's kick and for "   \
    "the backup peer, ms (a dead or frozen one is fenced by the epoch)")                                             \
  X(baseapp_save_retry_ms, INT, "60000", 0, 86400000, "a session's last save is made again this long while dbmgr "  \
    "is gone or full; a LOGOUT's BYE waits for it, ms")                                                                        \
  X(failover_recent, INT, "64", 1, 100000, "failover events the failover service keeps for `recent`")                \
  X(failover_registry, STRING, "", 0, 0, "the registry the failover service watches (empty: the cluster's)")        \
  /* ---- cellapp: players of a lost baseapp (docs/cellapp.md) */                                                    \
  X(cellapp_orphan_ms, INT, "30000", 0, 86400000, "the cell part of a player whose baseapp died stays in its space "   \
    "this long (deaf, standing still) so a resume goes on from its live position, ms (0: it leaves at once)")      \
  /* ---- gate: WebSocket clients on the gate's port (docs/gate.md "WebSocket clients") */                          \
  X(gate_websocket, BOOL, "false", 0, 0, "the gate also takes WebSocket clients on its port (an HTTP GET upgrade; " \
    "anything else is the TCP framing)")                                                                             \
  X(gate_ws_path, STRING, "/", 0, 0, "the request path of the gate's WebSocket upgrade (the target before '?')")    \
  X(gate_ws_origins, STRING, "", 0, 0, "Origin values allowed to upgrade, comma separated (empty or *: any; a "     \
    "request without Origin is allowed)")                                                                            \
  X(gate_ws_handshake_ms, INT, "5000", 10, 600000, "a connection of a WebSocket gate that has not finished its "   \
    "HTTP upgrade (or sent its first bytes) this long after it connected is closed, ms") \
  /* ---- metrics: the Prometheus endpoint (service/metrics.lua, docs/operations.md) */                             \
  X(metrics_listen, STRING, "", 0, 0, "where the node serves GET /metrics (Prometheus text 0.0.4): HOST:PORT, or " \
    "PORT for 127.0.0.1 (0: a free port, logged); empty: off")                                                      \
  X(metrics_timeout_ms, INT, "1000", 10, 60000, "a scrape waits this long for each Lua service's own metrics and " \
    "for the harbor, ms")                                                                                           \
  X(metrics_max_request, INT, "4096", 256, 65536, "the largest HTTP request head a scrape may send, bytes (past "  \
    "it: 431 and close)")                                                                                           \
  X(metrics_read_ms, INT, "2000", 10, 60000, "a scrape connection must send its whole request head within this, " \
    "ms (past it: 408 and close)")                                                                                  \
  X(metrics_max_conns, INT, "16", 1, 1024, "scrape connections at once (past it: 503 and close)")            \
  X(metrics_max_services, INT, "1000", 0, 10000000, "services listed one by one in the per-service metrics, "  \
    "oldest (lowest handle) first; the rest are added up in one series handle=\"other\"") \
  /* ---- dsagent: dedicated-server processes of this machine (lualib/ds/agent.lua; docs/dsagent.md; a fleet  \
     may override each dsagent_* bound below with the key without its prefix) */                                   \
  X(dsagent_fleets, STRING, "", 0, 0, "the Lua file that returns the fleet definitions (empty: no fleet)")      \
  X(dsagent_keeper, STRING, "$build/shoal-dskeep", 0, 0, "the keeper executable between dsagent and each DS")     \
  X(dsagent_logdir, STRING, "", 0, 0, "where each DS's stdout/stderr log goes (empty: dsagent-logs in the cwd)")   \
  X(dsagent_log_max_kb, INT, "1024", 1, 1048576, "a DS log is rotated at this size, KB")                           \
  X(dsagent_log_keep, INT, "2", 0, 99, "rotated DS logs kept per process (NAME.1 .. NAME.N)")                    \
  X(dsagent_check_ms, INT, "100", 10, 60000, "how often the watchdog checks each DS (health, CPU, RSS), ms")     \
  X(dsagent_max_starting, INT, "16", 1, 100000, "DS processes of this machine starting (not READY yet) at once; "  \
    "the pools' other starts wait for one to end")                                                                  \
  X(dsagent_ready_timeout_ms, INT, "10000", 10, 3600000, "a DS not READY this long after its start is reaped, ms")\
  X(dsagent_health_timeout_ms, INT, "3000", 10, 3600000, "a DS with no HEALTH (or READY) this long is hung: " \
    "reaped, ms")                                                                                                    \
  X(dsagent_cpu_percent, INT, "0", 0, 6400, "CPU (percent of one core) above which a DS is watched (0: off)")     \
  X(dsagent_cpu_ms, INT, "5000", 10, 3600000, "a DS above dsagent_cpu_percent this long is reaped, ms")            \
  X(dsagent_rss_mb, INT, "0", 0, 1048576, "a DS whose RSS is above this is reaped, MB (0: off)")                   \
  X(dsagent_grace_ms, INT, "2000", 0, 600000, "a reap sends SIGTERM to the DS's group, SIGKILL after this, ms")     \
  X(dsagent_match_grace_ms, INT, "5000", 0, 86400000, "a DS that said SHUTDOWN or ended its match has this long " \
    "to exit before it is reaped, ms")                                                                               \
  X(dsagent_max_match_ms, INT, "0", 0, 604800000, "an allocated DS is reaped after this long, ms (0: no bound)")   \
  X(dsagent_backoff_ms, INT, "100", 0, 3600000, "the first restart delay after a DS failed; doubled each time, ms") \
  X(dsagent_backoff_max_ms, INT, "10000", 0, 3600000, "the restart delay's bound, ms")                             \
  X(dsagent_crash_count, INT, "5", 1, 1000000, "this many failures within dsagent_crash_window_ms mark the fleet " \
    "crash-looping: no more starts until `ds restart FLEET`")                                                        \
  X(dsagent_crash_window_ms, INT, "30000", 10, 86400000, "the window of dsagent_crash_count, ms")                 \
  X(dsagent_report_ms, INT, "1000", 10, 3600000, "how often dsagent sends its load report, ms")                     \
  X(dsagent_controller, STRING, "", 0, 0, "the service (name) dsagent sends load reports to (empty: kept for " \
    "the console)")                                                                                                  \
  X(dsagent_history, INT, "64", 1, 100000, "ended processes dsagent remembers for the console")            \
  X(dsagent_alert_command, STRING, "", 0, 0, "a shell command run for each alert (env SHOAL_ALERT_EVENT, " \
    "SHOAL_ALERT; empty: none)")                                                                                     \
  X(dsagent_alert_webhook, STRING, "", 0, 0, "http://HOST:PORT/PATH POSTed a JSON object per alert (empty: none)") \
  /* ---- dscontroller: allocation across dsagents (lualib/ds/controller.lua; docs/dsagent.md) */              \
  X(dscontroller_lost_ms, INT, "3000", 10, 3600000, "an agent with no load report this long gets no allocation, ms") \
  X(dscontroller_ticket_timeout_ms, INT, "10000", 10, 3600000, "a ticket not served this long fails with an " \
    "error to its holder, ms")                                                                                       \
  X(dscontroller_max_tickets, INT, "10000", 0, 10000000, "tickets waiting at most (past it an allocation fails at once)") \
  /* ---- dashboard: the web dashboard on the metrics endpoint (lualib/shoal/dashboard.lua; docs/operations.md) */ \
  X(dashboard, BOOL, "false", 0, 0, "serve the web dashboard (GET /dashboard/, /api/cluster) on metrics_listen") \
  X(dashboard_dir, STRING, "$root/web/dashboard", 0, 0, "the dashboard's files (index.html, dashboard.css, " \
    "dashboard.js), read at start") \
  /* ---- the registry's etcd backend (lualib/shoal/registry_etcd.lua; docs/registry.md) */                      \
  X(registry_backend, STRING, "builtin", 0, 0, "builtin (cservice/registry.c) or etcd: what registry.new(NAME) "  \
    "talks to")                                                                                                      \
  X(registry_etcd_endpoints, STRING, "", 0, 0, "the etcd members' client URLs as host:port,host:port,...")        \
  X(registry_etcd_timeout_ms, INT, "1000", 10, 600000, "an etcd request's bound per member, ms (past every "     \
    "member: UNAVAIL)")                                                                                              \
  X(registry_etcd_prefix, STRING, "/shoal/", 0, 0, "the etcd key prefix of this cluster's registry") \
  X(dscontroller_lease, STRING, "", 0, 0, "a registry lease name: the dscontroller is active or standby " \
    "(agents: dsagent_controller = \"lease:NAME\"); empty: always active")

#endif
