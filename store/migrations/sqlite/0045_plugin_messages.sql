-- The messages each plugin sent on each server (engine.MessageStore): to
-- Discord every plugin's message is the bot's, so this record is what lets
-- a plugin edit, delete and unreact only its own. A ring of the newest
-- engine.SentMessagesKept ids per (plugin, server): plugin_message_heads
-- counts the messages recorded, and the next id takes slot count % keep,
-- replacing the oldest, so a record costs the same however many there were.
CREATE TABLE plugin_message_heads (
	plugin_id TEXT    NOT NULL REFERENCES plugins (id) ON DELETE CASCADE,
	server_id TEXT    NOT NULL,
	recorded  INTEGER NOT NULL,
	PRIMARY KEY (plugin_id, server_id)
) WITHOUT ROWID;

CREATE TABLE plugin_messages (
	plugin_id  TEXT    NOT NULL REFERENCES plugins (id) ON DELETE CASCADE,
	server_id  TEXT    NOT NULL,
	slot       INTEGER NOT NULL,
	message_id TEXT    NOT NULL,
	PRIMARY KEY (plugin_id, server_id, slot)
) WITHOUT ROWID;
CREATE INDEX plugin_messages_id ON plugin_messages (plugin_id, server_id, message_id);
-- Whose is a message or reaction on a server (RecordedByOther): a plugin
-- may not claim a reaction another plugin put first.
CREATE INDEX plugin_messages_server ON plugin_messages (server_id, message_id);
