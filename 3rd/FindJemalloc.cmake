# FindJemalloc - jemalloc from Debian's libjemalloc-dev (pkg-config jemalloc).
# Defines the imported target Shoal::jemalloc.
find_package(PkgConfig REQUIRED)
pkg_check_modules(JEMALLOC QUIET IMPORTED_TARGET jemalloc)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Jemalloc
  REQUIRED_VARS JEMALLOC_FOUND
  VERSION_VAR JEMALLOC_VERSION
  REASON_FAILURE_MESSAGE "install libjemalloc-dev (scripts/deps.sh does), or configure with -DSHOAL_JEMALLOC=OFF")
if(Jemalloc_FOUND AND NOT TARGET Shoal::jemalloc)
  add_library(Shoal::jemalloc ALIAS PkgConfig::JEMALLOC)
endif()
