/*
 * lua-socket.c - shoal.socketdriver: the C side of lualib/shoal/socket.lua.
 *
 * Functions return nil/false plus an error string for failures the caller
 * should handle (a refused listen, a closed socket) and raise on bad
 * arguments. Event constants are pushed from C (enum shoal_socket_event).
 */
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#include "lua-shoal.h"
#include "shoal.h"

static int fail(lua_State *L, int err) {
  lua_pushnil(L);
  lua_pushstring(L, shoal_strerror(err));
  return 2;
}

static int check_port(lua_State *L, int idx) {
  lua_Integer port = luaL_checkinteger(L, idx);
  if (port < 0 || port > 65535) luaL_argerror(L, idx, "port must be 0..65535");
  return (int)port;
}

/* listen(host, port [, backlog]) -> id | nil, err */
static int llisten(lua_State *L) {
  const char *host = luaL_optstring(L, 1, "0.0.0.0");
  int port = check_port(L, 2);
  int backlog = (int)luaL_optinteger(L, 3, 1024);
  int id = shoal_socket_listen(SERVICE(L)->ctx, host, port, backlog);
  if (id < 0) return fail(L, id);
  lua_pushinteger(L, id);
  return 1;
}

/* start(id): deliver this socket's events to this service */
static int lstart(lua_State *L) {
  int r = shoal_socket_start(SERVICE(L)->ctx, (int)luaL_checkinteger(L, 1));
  if (r < 0) return fail(L, r);
  lua_pushboolean(L, 1);
  return 1;
}

/* connect(host, port) -> id | nil, err (CONNECT or ERROR arrives later) */
static int lconnect(lua_State *L) {
  const char *host = luaL_checkstring(L, 1);
  int port = check_port(L, 2);
  int id = shoal_socket_connect(SERVICE(L)->ctx, host, port);
  if (id < 0) return fail(L, id);
  lua_pushinteger(L, id);
  return 1;
}

/* What send and sendframe return for shoal_socket_send's result r. */
static int push_send_result(lua_State *L, int r) {
  if (r < 0) {
    lua_pushboolean(L, 0);
    lua_pushstring(L, r == SHOAL_EFULL ? "write buffer over the limit" : "socket closed");
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* send(id, string | lightuserdata, size) -> true | false, err */
static int lsend(lua_State *L) {
  int id = (int)luaL_checkinteger(L, 1);
  void *data;
  size_t sz;
  if (lua_type(L, 2) == LUA_TLIGHTUSERDATA) {
    data = lua_touserdata(L, 2);
    sz = (size_t)luaL_checkinteger(L, 3);
  } else {
    data = shoal_lua_copystring(L, 2, &sz);
  }
  int r = shoal_socket_send(SERVICE(L)->ctx, id, data, sz);
  return push_send_result(L, r);
}

/* sendframe(id, string) -> true | false, err: one frame (length header
 * and the string) to a framed socket, a gate's client connection
 * (shoal_socket_send_frame). An agent or a logic service answers a client
 * this way, without a hop through the gate. */
static int lsendframe(lua_State *L) {
  int id = (int)luaL_checkinteger(L, 1);
  size_t sz;
  const char *s = luaL_checklstring(L, 2, &sz);
  int r = shoal_socket_send_frame(SERVICE(L)->ctx, id, s, sz);
  if (r == SHOAL_EINVAL || r == SHOAL_ENOSERVICE) {
    lua_pushboolean(L, 0);
    if (r == SHOAL_EINVAL)
      lua_pushfstring(L, "a frame of %I bytes is too long for the connection's length header", (lua_Integer)sz);
    else
      lua_pushfstring(L, "no client connection %d (closed, or not a gate's)", id);
    return 2;
  }
  return push_send_result(L, r);
}

static int lclose(lua_State *L) {
  shoal_socket_close(SERVICE(L)->ctx, (int)luaL_checkinteger(L, 1));
  return 0;
}

static int lshutdown(lua_State *L) {
  shoal_socket_shutdown(SERVICE(L)->ctx, (int)luaL_checkinteger(L, 1));
  return 0;
}

static int lnodelay(lua_State *L) {
  shoal_socket_nodelay(SERVICE(L)->ctx, (int)luaL_checkinteger(L, 1));
  return 0;
}

/* udp(host, port) -> id | nil, err */
static int ludp(lua_State *L) {
  const char *host = luaL_optstring(L, 1, "0.0.0.0");
  int port = check_port(L, 2);
  int id = shoal_socket_udp(SERVICE(L)->ctx, host, port);
  if (id < 0) return fail(L, id);
  lua_pushinteger(L, id);
  return 1;
}

/* udpsend(id, host, port, string) -> true | false, err */
static int ludpsend(lua_State *L) {
  int id = (int)luaL_checkinteger(L, 1);
  const char *host = luaL_checkstring(L, 2);
  int port = check_port(L, 3);
  size_t sz;
  void *data = shoal_lua_copystring(L, 4, &sz);
  int r = shoal_socket_udp_send(SERVICE(L)->ctx, id, host, port, data, sz);
  if (r < 0) {
    lua_pushboolean(L, 0);
    lua_pushstring(L, shoal_strerror(r));
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* unpack(msg, size) -> type, id, ud, data [, from]: the data of DATA/UDP
 * events is copied into a Lua string (the runtime frees the buffer after
 * the message). */
static int lunpack(lua_State *L) {
  struct shoal_socket_message *m = lua_touserdata(L, 1);
  if (m == NULL || (size_t)luaL_checkinteger(L, 2) < sizeof(*m)) return luaL_error(L, "bad socket message");
  lua_pushinteger(L, m->type);
  lua_pushinteger(L, m->id);
  lua_pushinteger(L, m->ud);
  switch (m->type) {
    case SHOAL_SOCKET_DATA:
      lua_pushlstring(L, m->buffer, (size_t)m->ud);
      return 4;
    case SHOAL_SOCKET_UDP:
      lua_pushlstring(L, m->buffer, (size_t)m->ud);
      lua_pushstring(L, m->buffer + m->ud);
      return 5;
    default:
      if (m->buffer) lua_pushstring(L, m->buffer);
      else lua_pushnil(L);
      return 4;
  }
}

/* info() -> array of {id, kind, owner, bytes_in, bytes_out, buffered, peer} */
static int linfo(lua_State *L) {
  int cap = 256, n;
  struct shoal_socket_info *list = NULL;
  for (;;) {
    list = shoal_realloc(list, sizeof(*list) * (size_t)cap);
    n = shoal_socket_info_list(list, cap);
    if (n < cap) break;
    cap *= 2;
  }
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_createtable(L, 0, 7);
    lua_pushinteger(L, list[i].id);
    lua_setfield(L, -2, "id");
    char kind[2] = {(char)list[i].kind, 0};
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    lua_pushinteger(L, list[i].owner);
    lua_setfield(L, -2, "owner");
    lua_pushinteger(L, (lua_Integer)list[i].bytes_in);
    lua_setfield(L, -2, "bytes_in");
    lua_pushinteger(L, (lua_Integer)list[i].bytes_out);
    lua_setfield(L, -2, "bytes_out");
    lua_pushinteger(L, (lua_Integer)list[i].buffered);
    lua_setfield(L, -2, "buffered");
    lua_pushstring(L, list[i].peer);
    lua_setfield(L, -2, "peer");
    lua_rawseti(L, -2, i + 1);
  }
  shoal_free(list);
  return 1;
}

int luaopen_shoal_socketdriver(lua_State *L) {
  luaL_Reg funcs[] = {
      {"listen", llisten}, {"start", lstart},       {"connect", lconnect}, {"send", lsend}, {"sendframe", lsendframe},
      {"close", lclose},   {"shutdown", lshutdown}, {"nodelay", lnodelay}, {"udp", ludp},
      {"udpsend", ludpsend}, {"unpack", lunpack},   {"info", linfo},       {NULL, NULL},
  };
  luaL_newlib(L, funcs);
  struct {
    const char *name;
    int value;
  } events[] = {{"DATA", SHOAL_SOCKET_DATA},   {"CONNECT", SHOAL_SOCKET_CONNECT}, {"CLOSE", SHOAL_SOCKET_CLOSE},
                {"ACCEPT", SHOAL_SOCKET_ACCEPT}, {"ERROR", SHOAL_SOCKET_ERROR},   {"UDP", SHOAL_SOCKET_UDP},
                {"WARNING", SHOAL_SOCKET_WARNING}};
  for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
    lua_pushinteger(L, events[i].value);
    lua_setfield(L, -2, events[i].name);
  }
  return 1;
}
