# Standalone network tools (POSIX + libc only, no Shoal headers or libraries).
# Included by bench/CMakeLists.txt; paths are relative to the source root so
# the file works from whichever directory includes it.
#   gate_load    closed-loop load generator / checker for a framed echo server
#   chat_client  interactive and scripted client for the chat-room demo
#   bot          game clients of docs/protocol.md for tests and bench/run login
if(NOT TARGET gate_load)
  add_executable(gate_load ${CMAKE_SOURCE_DIR}/bench/gate_load.c)
endif()
if(NOT TARGET chat_client)
  add_executable(chat_client ${CMAKE_SOURCE_DIR}/examples/chat/chat_client.c)
endif()
# The same load in the gate's AEAD mode: crypto_aead.c (the one
# implementation) and OpenSSL; built where the project's targets exist.
if(NOT TARGET gate_load_aead AND TARGET OpenSSL::Crypto)
  add_executable(gate_load_aead ${CMAKE_SOURCE_DIR}/bench/gate_load.c ${CMAKE_SOURCE_DIR}/lualib/src/crypto_aead.c)
  target_compile_definitions(gate_load_aead PRIVATE GATE_LOAD_AEAD=1)
  target_include_directories(gate_load_aead PRIVATE ${CMAKE_SOURCE_DIR}/lualib/src ${CMAKE_SOURCE_DIR}/include)
  target_link_libraries(gate_load_aead PRIVATE OpenSSL::Crypto shoal_core)
endif()
add_executable(echo_epoll ${CMAKE_SOURCE_DIR}/bench/echo_epoll.c)
# bot: thousands of game clients (docs/protocol.md) in one epoll loop, for
# tests and bench/run login; OpenSSL's libcrypto for the key exchange and AEAD.
if(NOT TARGET bot)
  add_executable(bot ${CMAKE_SOURCE_DIR}/bench/bot.c ${CMAKE_SOURCE_DIR}/bench/bot_net.c ${CMAKE_SOURCE_DIR}/bench/bot_proto.c
    ${CMAKE_SOURCE_DIR}/bench/bot_stats.c ${CMAKE_SOURCE_DIR}/bench/bot_opts.c
    ${CMAKE_SOURCE_DIR}/bench/bot_world.c ${CMAKE_SOURCE_DIR}/bench/bot_resume.c ${CMAKE_SOURCE_DIR}/bench/bot_ring.c)
  target_link_libraries(bot PRIVATE OpenSSL::Crypto m)
endif()
# bench/bot's ring of acknowledged positions (the restore check): a unit test
# (test/unit/test_bot_ring.c), registered here with the bot it belongs to.
if(BUILD_TESTING AND NOT TARGET test_bot_ring)
  add_executable(test_bot_ring ${CMAKE_SOURCE_DIR}/test/unit/test_bot_ring.c ${CMAKE_SOURCE_DIR}/bench/bot_ring.c)
  target_include_directories(test_bot_ring PRIVATE ${CMAKE_SOURCE_DIR}/bench ${CMAKE_SOURCE_DIR}/test/unit)
  target_link_libraries(test_bot_ring PRIVATE m)
  add_test(NAME test_bot_ring COMMAND test_bot_ring)
  set_tests_properties(test_bot_ring PROPERTIES LABELS unit TIMEOUT 120)
endif()
