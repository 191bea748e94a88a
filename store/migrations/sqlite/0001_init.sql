-- maid's schema on SQLite. Times are unix microseconds (UTC) so both
-- dialects store and return the same values. Text comparisons use SQLite's
-- default BINARY collation (byte order), matching COLLATE "C" on PostgreSQL.

CREATE TABLE plugins (
	id           TEXT    NOT NULL PRIMARY KEY,
	version      TEXT    NOT NULL,
	archive      BLOB    NOT NULL,
	installed_at INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL
);

CREATE TABLE server_plugins (
	server_id TEXT    NOT NULL,
	plugin_id TEXT    NOT NULL REFERENCES plugins (id) ON DELETE CASCADE,
	enabled   INTEGER NOT NULL DEFAULT 0,
	options   TEXT    NOT NULL DEFAULT '{}',
	PRIMARY KEY (server_id, plugin_id)
);
CREATE INDEX server_plugins_plugin ON server_plugins (plugin_id);

-- Values are kept as the exact bytes the engine gave (JSON documents).
CREATE TABLE kv (
	plugin_id TEXT NOT NULL REFERENCES plugins (id) ON DELETE CASCADE,
	server_id TEXT NOT NULL,
	key       TEXT NOT NULL,
	value     BLOB NOT NULL,
	PRIMARY KEY (plugin_id, server_id, key)
) WITHOUT ROWID;

-- One row per scope: the quota counters, updated in the same transaction as
-- kv so checking a quota never scans the scope.
CREATE TABLE kv_usage (
	plugin_id  TEXT    NOT NULL REFERENCES plugins (id) ON DELETE CASCADE,
	server_id  TEXT    NOT NULL,
	key_count  INTEGER NOT NULL,
	byte_count INTEGER NOT NULL,
	PRIMARY KEY (plugin_id, server_id)
) WITHOUT ROWID;

CREATE TABLE metrics (
	server_id TEXT NOT NULL,
	namespace TEXT NOT NULL,
	name      TEXT NOT NULL,
	day       TEXT NOT NULL,
	value     REAL NOT NULL,
	PRIMARY KEY (server_id, namespace, name, day)
) WITHOUT ROWID;
CREATE INDEX metrics_namespace ON metrics (namespace);
