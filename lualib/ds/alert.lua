-- ds/alert.lua - where the dsagent's alerts go besides the log
-- (docs/dsagent.md, "Alerts"): a command run for each alert and/or an HTTP
-- webhook POSTed one JSON object per alert. Both bounded: at most
-- MAX_RUNNING of each at a time (more are dropped with a warning), a
-- command is killed after COMMAND_MS, a webhook request gives up after
-- WEBHOOK_MS.
--
--   local alert = require "ds.alert"
--   local out = alert.new { command = "sh command line" | "", webhook = "http://127.0.0.1:8080/path" | "" }
--   out:send(event, line)       -- returns at once
--   alert.parse_url(url) -> host, port, path | nil, err
local shoal = require "shoal"
local socket = require "shoal.socket"
local proc = require "shoal.proc"

local alert = {}
local Out = {}
Out.__index = Out

local MAX_RUNNING = 8
local COMMAND_MS = 10000
local WEBHOOK_MS = 2000

function alert.parse_url(url)
	local host, port, path = url:match("^http://([%w%.%-]+):(%d+)(/[%w%-%._~/%%?=&]*)$")
	if not host then
		host, port = url:match("^http://([%w%.%-]+):(%d+)$")
		path = "/"
	end
	port = tonumber(port)
	if not host or port < 1 or port > 65535 then
		return nil, "the webhook must be http://HOST:PORT[/PATH] (got " .. url .. ")"
	end
	return host, port, path
end

function alert.new(conf)
	local o = setmetatable({ command = conf.command ~= "" and conf.command or nil, running = 0, posting = 0,
		dropped = 0 }, Out)
	if conf.webhook and conf.webhook ~= "" then
		local host, port, path = alert.parse_url(conf.webhook)
		if not host then
			error("dsagent: " .. port .. " (config dsagent_alert_webhook)")
		end
		o.host, o.port, o.path = host, port, path
	end
	return o
end

local function json_string(s)
	return '"' .. s:gsub('[%c"\\\128-\255]', function(c)
		return string.format("\\u%04x", c:byte())
	end) .. '"'
end

function Out:run(event, line)
	if self.running >= MAX_RUNNING then
		self.dropped = self.dropped + 1
		return shoal.warn("dsagent: alert command dropped: " .. MAX_RUNNING .. " still running")
	end
	local pid, ctl, sock = proc.spawn("/bin/sh", { "sh", "-c", self.command },
		{ "SHOAL_ALERT_EVENT=" .. event, "SHOAL_ALERT=" .. line, "PATH=" .. (os.getenv("PATH") or "/usr/bin:/bin") })
	if not pid then
		return shoal.warn("dsagent: alert command: " .. tostring(ctl))
	end
	socket.start(ctl)
	socket.start(sock)
	socket.close(ctl)
	socket.close(sock)
	self.running = self.running + 1
	local waited = 0
	local function reap()
		local how, code = proc.reap(pid)
		if how then
			self.running = self.running - 1
			if how ~= "exit" or code ~= 0 then
				shoal.warn(string.format("dsagent: alert command ended with %s %s", how, tostring(code)))
			end
			return
		end
		waited = waited + 20
		if waited == COMMAND_MS then
			shoal.warn("dsagent: alert command still running after " .. COMMAND_MS .. " ms: killed")
			proc.kill(pid, "KILL")
		end
		shoal.timeout(20, reap)
	end
	shoal.timeout(20, reap)
end

function Out:post(event, line)
	if self.posting >= MAX_RUNNING then
		self.dropped = self.dropped + 1
		return shoal.warn("dsagent: alert webhook dropped: " .. MAX_RUNNING .. " requests in flight")
	end
	self.posting = self.posting + 1
	shoal.fork(function()
		local body = string.format('{"event":%s,"line":%s,"agent":"%08x"}', json_string(event), json_string(line),
			shoal.self())
		local id, err = socket.connect(self.host, self.port, WEBHOOK_MS)
		if id then
			socket.start(id)
			socket.write(id, string.format("POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n" ..
				"Content-Length: %d\r\nConnection: close\r\n\r\n%s", self.path, self.host, self.port, #body, body))
			local status
			status, err = socket.readline(id, "\r\n", WEBHOOK_MS)
			socket.close(id)
			if status and not status:match("^HTTP/1%.[01] 2%d%d") then
				err = "answered " .. status:sub(1, 80)
			elseif status then
				err = nil
			end
		end
		if err then
			shoal.warn(string.format("dsagent: alert webhook http://%s:%d%s: %s", self.host, self.port, self.path, err))
		end
		self.posting = self.posting - 1
	end)
end

function Out:send(event, line)
	if self.command then
		self:run(event, line)
	end
	if self.host then
		self:post(event, line)
	end
end

return alert
