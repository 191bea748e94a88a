-- The marketplace (issue 18): every published version of a plugin, each
-- server's version and approved capabilities, and the audit log.
CREATE TABLE plugin_versions (
	plugin_id    text COLLATE "C" NOT NULL REFERENCES plugins (id) ON DELETE CASCADE,
	version      text COLLATE "C" NOT NULL,
	seq          bigint NOT NULL,
	archive      bytea  NOT NULL,
	hash         text   NOT NULL,
	capabilities text   NOT NULL DEFAULT '[]',
	sig_status   text   NOT NULL DEFAULT '',
	signer_key   text   NOT NULL DEFAULT '',
	publisher    text   NOT NULL DEFAULT '',
	published_by text   NOT NULL DEFAULT '',
	published_at bigint NOT NULL,
	PRIMARY KEY (plugin_id, version)
);
CREATE UNIQUE INDEX plugin_versions_seq ON plugin_versions (plugin_id, seq);

-- A server's version of a plugin: the one it last ran (kept while a newer
-- one waits for approval), pinned or following the latest, and the
-- capabilities its managers approved (JSON list).
CREATE TABLE server_plugin_versions (
	server_id text COLLATE "C" NOT NULL,
	plugin_id text COLLATE "C" NOT NULL REFERENCES plugins (id) ON DELETE CASCADE,
	version   text COLLATE "C" NOT NULL,
	pinned    boolean NOT NULL DEFAULT false,
	approved  text    NOT NULL DEFAULT '[]',
	PRIMARY KEY (server_id, plugin_id)
);
CREATE INDEX server_plugin_versions_plugin ON server_plugin_versions (plugin_id);

-- The audit log outlives plugins: no foreign keys.
CREATE TABLE audit_log (
	id        bigserial PRIMARY KEY,
	at        bigint NOT NULL,
	actor     text   NOT NULL,
	action    text   NOT NULL,
	server_id text COLLATE "C" NOT NULL DEFAULT '',
	plugin_id text COLLATE "C" NOT NULL DEFAULT '',
	version   text   NOT NULL DEFAULT '',
	detail    text   NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_server ON audit_log (server_id, id);
