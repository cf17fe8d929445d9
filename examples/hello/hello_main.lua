-- hello_main: starts a counter service, talks to it, then stops the node.
local shoal = require "shoal"

shoal.start(function()
	local counter = shoal.newservice("hello_counter", "greetings")
	for i = 1, 3 do
		local total = shoal.call(counter, "lua", "add", i)
		shoal.log("added", i, "total is now", total)
	end
	shoal.send(counter, "lua", "shout", "hello from main")
	local ok, err = pcall(shoal.call, counter, "lua", "boom")
	shoal.log("a failing call raises:", ok, (err:match("^[^\n]*")))
	shoal.log("counter says:", shoal.call(counter, "lua", "get"))
	if shoal.getenv("hello_stay") ~= "1" then
		shoal.abort(0)
	end
end)
