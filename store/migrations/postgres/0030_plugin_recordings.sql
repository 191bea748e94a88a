-- Recordings of plugin calls for exact replay (maid replay --exact): every
-- failed event, and every event of a (plugin, server) whose operator turned
-- recording on. Bounded per (plugin, server) by the engine (RecordingsKept)
-- and in size (MaxRecordingBytes). They hold the server's data: only that
-- server's managers and the admins may fetch them (docs/security.md).
CREATE TABLE plugin_recordings (
	id         text COLLATE "C" NOT NULL PRIMARY KEY,
	plugin_id  text COLLATE "C" NOT NULL REFERENCES plugins (id) ON DELETE CASCADE,
	server_id  text COLLATE "C" NOT NULL,
	created_at bigint  NOT NULL,
	what       text    NOT NULL,
	failed     boolean NOT NULL,
	body       bytea   NOT NULL
);
CREATE INDEX plugin_recordings_scope ON plugin_recordings (plugin_id, server_id, created_at);

CREATE TABLE plugin_recording_settings (
	plugin_id  text COLLATE "C" NOT NULL REFERENCES plugins (id) ON DELETE CASCADE,
	server_id  text COLLATE "C" NOT NULL,
	record_all boolean NOT NULL,
	PRIMARY KEY (plugin_id, server_id)
);
