-- libs_svc: uses cjson and lpeg inside a service.
--   json_roundtrip t -> cjson.decode(cjson.encode(t)), the encoded text
--   match s          -> the comma-separated numbers of s (lpeg), as a list
local shoal = require "shoal"
local cjson = require "cjson"
local lpeg = require "lpeg"

local number = lpeg.C(lpeg.R("09") ^ 1) / tonumber
local list = lpeg.Ct(number * ("," * number) ^ 0) * -1

shoal.start(function()
	shoal.dispatch("lua", function(_, _, cmd, arg)
		if cmd == "json_roundtrip" then
			local text = cjson.encode(arg)
			return cjson.decode(text), text
		elseif cmd == "match" then
			return list:match(arg)
		end
		error("unknown command " .. tostring(cmd))
	end)
end)
