-- Recordings of plugin calls for exact replay (maid replay --exact): every
-- failed event, and every event of a (plugin, server) whose operator turned
-- recording on. Bounded per (plugin, server) by the engine (RecordingsKept)
-- and in size (MaxRecordingBytes). They hold the server's data: only that
-- server's managers and the admins may fetch them (docs/security.md).
CREATE TABLE plugin_recordings (
	id         TEXT    NOT NULL PRIMARY KEY,
	plugin_id  TEXT    NOT NULL REFERENCES plugins (id) ON DELETE CASCADE,
	server_id  TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	what       TEXT    NOT NULL,
	failed     INTEGER NOT NULL,
	body       BLOB    NOT NULL
) WITHOUT ROWID;
CREATE INDEX plugin_recordings_scope ON plugin_recordings (plugin_id, server_id, created_at);

CREATE TABLE plugin_recording_settings (
	plugin_id  TEXT    NOT NULL REFERENCES plugins (id) ON DELETE CASCADE,
	server_id  TEXT    NOT NULL,
	record_all INTEGER NOT NULL,
	PRIMARY KEY (plugin_id, server_id)
) WITHOUT ROWID;
