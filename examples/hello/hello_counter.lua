-- hello_counter: keeps a running total.
--   add N   add N, reply with the total
--   get     reply with the label and the total
--   shout S log S (one-way)
--   boom    raise an error (the caller sees it with this traceback)
local shoal = require "shoal"

local label = ...
local total = 0
local command = {}

function command.add(n)
	total = total + n
	return total
end

function command.get()
	return label, total
end

function command.shout(s)
	shoal.log("counter heard:", s)
end

function command.boom()
	error("counter exploded on purpose")
end

shoal.start(function()
	shoal.dispatch_commands(command)
end)
