/*
 * fuzz_console - libFuzzer harness for the debug console's command
 * language (lualib/shoal/console.lua, pure Lua). Build and run with
 * fuzz/console.sh.
 *
 * One Lua state loads console.lua once (its path is compiled in as
 * CONSOLE_LUA). For each input, a checker written in Lua (below):
 *  - parses the input as one line: parse must return a known command and
 *    an argument table of the documented types, or nil and a one-line
 *    error of at most 200 bytes, or nil for a blank line, and never raise;
 *    a service name never leaves the luaservice path (no absolute path,
 *    no "." or ".." or empty part);
 *  - runs the input through the telnet filter whole and cut in two at a
 *    point chosen by the input's first byte: the output must not depend on
 *    the cut and must hold no CR or NUL; each of its lines is parsed too;
 *  - asks help() about the input (no error), and http() whether it looks
 *    like HTTP (a boolean, no error).
 * Any Lua error (a raise inside console.lua or a broken invariant) prints
 * the message and aborts, which libFuzzer reports as a crash.
 *
 * Coverage: the Lua interpreter is a system library, not instrumented, so
 * libFuzzer would see no progress. A line hook feeds it instead: every
 * (previous line, line) pair executed in Lua bumps a counter in the
 * __libfuzzer_extra_counters section, which libFuzzer reads as coverage.
 * fuzz/console.dict gives it the command words to splice in.
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef CONSOLE_LUA
#error "build with -DCONSOLE_LUA=\"path/to/lualib/shoal/console.lua\" (fuzz/console.sh does)"
#endif

static const char checker[] =
    "local console = ...\n"
    "local parse, telnet, help, http = console.parse, console.telnet, console.help, console.http\n"
    "local LEVELS = { debug = true, info = true, warn = true, error = true }\n"
    "local function check(line)\n"
    "  local c, a = parse(line)\n"
    "  if c == nil then\n"
    "    if a ~= nil then\n"
    "      assert(type(a) == 'string', 'the error is not a string')\n"
    "      assert(a ~= '', 'an empty error')\n"
    "      assert(not a:find('[\\r\\n]'), 'a multi-line error: ' .. a)\n"
    "      assert(#a <= 200, 'an error of ' .. #a .. ' bytes')\n"
    "    end\n"
    "    return\n"
    "  end\n"
    "  assert(type(c) == 'string' and type(a) == 'table', 'bad result types')\n"
    "  assert(help(c)[1]:sub(1, 7) == 'usage: ', 'an unknown command came out: ' .. c)\n"
    "  local s = a.service\n"
    "  if s ~= nil then\n"
    "    assert((math.type(s) == 'integer' and s >= 1 and s <= 0xffffffff)\n"
    "      or (type(s) == 'string' and s:sub(1, 1) == '.' and #s >= 2 and #s <= 63), 'bad service')\n"
    "  end\n"
    "  if a.level ~= nil then assert(LEVELS[a.level], 'bad level') end\n"
    "  if a.name ~= nil then\n"
    "    assert(type(a.name) == 'string' and #a.name <= 127, 'bad name')\n"
    "    local parts = '/' .. a.name .. '/'\n"
    "    assert(a.name:sub(1, 1) ~= '/' and not parts:find('/%.?%.?/'), 'a name out of the service path')\n"
    "  end\n"
    "  if a.file ~= nil then assert(type(a.file) == 'string', 'bad file') end\n"
    "  if a.args ~= nil then\n"
    "    for i, v in ipairs(a.args) do assert(type(v) == 'string', 'bad arg ' .. i) end\n"
    "  end\n"
    "end\n"
    "return function(data, cut)\n"
    "  check(data)\n"
    "  local whole = telnet()(data)\n"
    "  local f = telnet()\n"
    "  local pieces = f(data:sub(1, cut)) .. f(data:sub(cut + 1))\n"
    "  assert(pieces == whole, 'the telnet filter depends on where the input is cut')\n"
    "  assert(not whole:find('[\\r\\0]'), 'CR or NUL left by the telnet filter')\n"
    "  for line in (whole .. '\\n'):gmatch('([^\\n]*)\\n') do\n"
    "    check(line)\n"
    "    assert(type(http(line)) == 'boolean', 'http')\n"
    "  end\n"
    "  assert(type(help(data)) == 'table', 'help')\n"
    "end\n";

static lua_State *L;
static int check_ref;
static unsigned long runs;

#define NCOUNTERS (1 << 16)
__attribute__((section("__libfuzzer_extra_counters"))) static uint8_t counters[NCOUNTERS];
static uint32_t prev_line;

/* Line hook: edge coverage over Lua source lines. */
static void line_hook(lua_State *co, lua_Debug *ar) {
  if (!lua_getinfo(co, "S", ar)) return;
  uint32_t here = (uint32_t)(uintptr_t)ar->source * 2654435761u ^ (uint32_t)ar->linedefined * 40503u ^
                  (uint32_t)ar->currentline * 2246822519u;
  uint32_t edge = (here ^ prev_line) & (NCOUNTERS - 1);
  if (counters[edge] < 255) counters[edge]++;
  prev_line = here >> 1;
}

static void die(const char *what) {
  fprintf(stderr, "fuzz_console: %s: %s\n", what, lua_tostring(L, -1));
  abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  L = luaL_newstate();
  if (L == NULL) abort();
  luaL_openlibs(L);
  if (luaL_loadfile(L, CONSOLE_LUA) != LUA_OK) die("loading " CONSOLE_LUA);
  if (lua_pcall(L, 0, 1, 0) != LUA_OK) die("running " CONSOLE_LUA);
  if (luaL_loadbuffer(L, checker, sizeof(checker) - 1, "=checker") != LUA_OK) die("loading the checker");
  lua_insert(L, -2);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) die("running the checker");
  check_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_sethook(L, line_hook, LUA_MASKLINE, 0);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  prev_line = 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, check_ref);
  lua_pushlstring(L, (const char *)data, size);
  lua_pushinteger(L, size ? data[0] % (size + 1) : 0);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) die("invariant broken or error raised");
  lua_settop(L, 0);
  if (++runs % 4096 == 0) lua_gc(L, LUA_GCCOLLECT);
  return 0;
}
