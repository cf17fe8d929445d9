local shoal = require "shoal"
shoal.start(function()
  print("source of shoal.ret:", debug.getinfo(shoal.ret, "S").source, debug.getinfo(shoal.ret, "S").short_src)
  local t = require "testlib"
  print("source of t.eq:", debug.getinfo(t.eq, "S").source)
  shoal.abort(0)
end)
