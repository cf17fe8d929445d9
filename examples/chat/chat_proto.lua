-- chat_proto: the chat's protocol ids, shared by the agent and the logic.
-- Clients send text frames ("login NAME", "say TEXT", "quit"); the agent
-- maps the first word to a protocol id and routes by it (shoal.router).
return {
	LOGIN = 1, -- body: the name
	SAY = 2, -- body: the text
	QUIT = 3, -- body: empty
	LEAVE = 4, -- sent by the agent when the connection closes
	words = { login = 1, say = 2, quit = 3 },
}
