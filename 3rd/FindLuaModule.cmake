# FindLuaModule - shoal_find_lua_module(NAME PACKAGE): a Lua 5.4 C module
# that services load at run time with require (cjson from lua-cjson, lpeg
# from lua-lpeg). Nothing links against it; the build fails early with the
# package to install instead of a service failing at run time. Sets
# SHOAL_LUA_MODULE_<NAME> to the module's path.
function(shoal_find_lua_module name package)
  find_file(SHOAL_LUA_MODULE_${name} ${name}.so
    PATHS /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/lua/5.4 /usr/local/lib/lua/5.4 /usr/lib/lua/5.4
    NO_DEFAULT_PATH)
  if(NOT SHOAL_LUA_MODULE_${name})
    message(FATAL_ERROR "the Lua module '${name}' is missing: install ${package} (scripts/deps.sh does)")
  endif()
endfunction()
