-- maid's schema on PostgreSQL. Times are unix microseconds (UTC) so both
-- dialects store and return the same values. Text keys use COLLATE "C" so
-- ordering and prefix ranges are byte order, as on SQLite.

CREATE TABLE plugins (
	id           text COLLATE "C" NOT NULL PRIMARY KEY,
	version      text   NOT NULL,
	archive      bytea  NOT NULL,
	installed_at bigint NOT NULL,
	updated_at   bigint NOT NULL
);

CREATE TABLE server_plugins (
	server_id text COLLATE "C" NOT NULL,
	plugin_id text COLLATE "C" NOT NULL REFERENCES plugins (id) ON DELETE CASCADE,
	enabled   boolean NOT NULL DEFAULT false,
	options   text    NOT NULL DEFAULT '{}',
	PRIMARY KEY (server_id, plugin_id)
);
CREATE INDEX server_plugins_plugin ON server_plugins (plugin_id);

-- Values are kept as the exact bytes the engine gave (JSON documents).
CREATE TABLE kv (
	plugin_id text COLLATE "C" NOT NULL REFERENCES plugins (id) ON DELETE CASCADE,
	server_id text COLLATE "C" NOT NULL,
	key       text COLLATE "C" NOT NULL,
	value     bytea NOT NULL,
	PRIMARY KEY (plugin_id, server_id, key)
);

-- One row per scope: the quota counters. Writers lock it (FOR UPDATE), which
-- serializes writes per scope across every maid node.
CREATE TABLE kv_usage (
	plugin_id  text COLLATE "C" NOT NULL REFERENCES plugins (id) ON DELETE CASCADE,
	server_id  text COLLATE "C" NOT NULL,
	key_count  bigint NOT NULL,
	byte_count bigint NOT NULL,
	PRIMARY KEY (plugin_id, server_id)
);

CREATE TABLE metrics (
	server_id text COLLATE "C" NOT NULL,
	namespace text COLLATE "C" NOT NULL,
	name      text COLLATE "C" NOT NULL,
	day       text COLLATE "C" NOT NULL,
	value     double precision NOT NULL,
	PRIMARY KEY (server_id, namespace, name, day)
);
CREATE INDEX metrics_namespace ON metrics (namespace);

-- Per-database facts. role_token makes plugin role names unique per database,
-- since roles are shared by every database of a cluster.
CREATE TABLE maid_meta (
	key   text COLLATE "C" NOT NULL PRIMARY KEY,
	value text NOT NULL
);
INSERT INTO maid_meta (key, value)
VALUES ('role_token', substr(md5(random()::text || clock_timestamp()::text), 1, 8));

-- Plugin SQL: the login role and schema of each plugin (see pluginsql_postgres.go).
-- Only maid's own role can read this table.
CREATE TABLE plugin_sql_roles (
	plugin_id   text COLLATE "C" NOT NULL PRIMARY KEY,
	role_name   text NOT NULL,
	schema_name text NOT NULL,
	password    text NOT NULL
);
