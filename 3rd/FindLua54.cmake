# FindLua54 - Lua 5.4 from Debian's liblua5.4-dev (pkg-config lua5.4).
# Defines the imported targets Shoal::lua (headers and library: the node)
# and Shoal::lua_headers (headers only: C services and Lua C modules, which
# use the Lua the node exports instead of a second copy).
find_package(PkgConfig REQUIRED)
pkg_check_modules(LUA54 QUIET IMPORTED_TARGET lua5.4)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Lua54
  REQUIRED_VARS LUA54_FOUND
  VERSION_VAR LUA54_VERSION
  REASON_FAILURE_MESSAGE "install liblua5.4-dev (scripts/deps.sh does)")
if(Lua54_FOUND AND NOT TARGET Shoal::lua)
  add_library(Shoal::lua ALIAS PkgConfig::LUA54)
  add_library(Shoal::lua_headers INTERFACE IMPORTED)
  set_target_properties(Shoal::lua_headers PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${LUA54_INCLUDE_DIRS}")
endif()
