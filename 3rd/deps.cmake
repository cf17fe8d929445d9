# deps.cmake - every system package Shoal builds against, found once (the
# find modules beside this file, CMake's own FindOpenSSL). Debian packages
# only (scripts/deps.sh installs them); no source is copied in.
#   Shoal::lua        Lua 5.4 (liblua5.4-dev)
#   Shoal::jemalloc   jemalloc (libjemalloc-dev), when SHOAL_JEMALLOC
#   OpenSSL::Crypto   OpenSSL's libcrypto (libssl-dev): HMAC, and later AEAD and KDFs
#   SQLite::SQLite3   SQLite 3 (libsqlite3-dev): the dbmgr's embedded database (CMake's FindSQLite3)
#   PostgreSQL::PostgreSQL  libpq (libpq-dev): the dbmgr's production backend
#   cjson, lpeg       Lua modules services require at run time (lua-cjson, lua-lpeg)
list(APPEND CMAKE_MODULE_PATH ${CMAKE_CURRENT_LIST_DIR})
find_package(Threads REQUIRED)
find_package(Lua54 REQUIRED)
if(SHOAL_JEMALLOC)
  find_package(Jemalloc REQUIRED)
endif()
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
find_package(SQLite3 REQUIRED)
# libpq through pkg-config (CMake's FindPostgreSQL also wants the server's
# headers, which libpq-dev does not ship). The product needs it: no fallback.
find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBPQ IMPORTED_TARGET GLOBAL libpq>=14)
if(NOT LIBPQ_FOUND)
  message(FATAL_ERROR "libpq >= 14 not found (pipeline mode; the dbmgr's PostgreSQL backend needs it): apt-get install libpq-dev, or run scripts/deps.sh")
endif()
add_library(PostgreSQL::PostgreSQL ALIAS PkgConfig::LIBPQ)
include(FindLuaModule)
shoal_find_lua_module(cjson lua-cjson)
shoal_find_lua_module(lpeg lua-lpeg)
