-- The marketplace (issue 18): every published version of a plugin, each
-- server's version and approved capabilities, and the audit log.
CREATE TABLE plugin_versions (
	plugin_id    TEXT    NOT NULL REFERENCES plugins (id) ON DELETE CASCADE,
	version      TEXT    NOT NULL,
	seq          INTEGER NOT NULL,
	archive      BLOB    NOT NULL,
	hash         TEXT    NOT NULL,
	capabilities TEXT    NOT NULL DEFAULT '[]',
	sig_status   TEXT    NOT NULL DEFAULT '',
	signer_key   TEXT    NOT NULL DEFAULT '',
	publisher    TEXT    NOT NULL DEFAULT '',
	published_by TEXT    NOT NULL DEFAULT '',
	published_at INTEGER NOT NULL,
	PRIMARY KEY (plugin_id, version)
);
CREATE UNIQUE INDEX plugin_versions_seq ON plugin_versions (plugin_id, seq);

-- A server's version of a plugin: the one it last ran (kept while a newer
-- one waits for approval), pinned or following the latest, and the
-- capabilities its managers approved (JSON list).
CREATE TABLE server_plugin_versions (
	server_id TEXT    NOT NULL,
	plugin_id TEXT    NOT NULL REFERENCES plugins (id) ON DELETE CASCADE,
	version   TEXT    NOT NULL,
	pinned    INTEGER NOT NULL DEFAULT 0,
	approved  TEXT    NOT NULL DEFAULT '[]',
	PRIMARY KEY (server_id, plugin_id)
) WITHOUT ROWID;
CREATE INDEX server_plugin_versions_plugin ON server_plugin_versions (plugin_id);

-- The audit log outlives plugins: no foreign keys.
CREATE TABLE audit_log (
	id        INTEGER PRIMARY KEY AUTOINCREMENT,
	at        INTEGER NOT NULL,
	actor     TEXT    NOT NULL,
	action    TEXT    NOT NULL,
	server_id TEXT    NOT NULL DEFAULT '',
	plugin_id TEXT    NOT NULL DEFAULT '',
	version   TEXT    NOT NULL DEFAULT '',
	detail    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_server ON audit_log (server_id, id);
