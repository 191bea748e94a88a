-- Plugin SQL is scoped per (plugin, server): one role and one schema each,
-- so a plugin's code for one server, and that server's dashboard bridge,
-- cannot reach another server's rows. plugin_sql_roles (one shared schema
-- per plugin) is kept: its schemas are no longer served and are dropped
-- with the plugin.
CREATE TABLE plugin_sql_scopes (
	plugin_id   text COLLATE "C" NOT NULL,
	server_id   text COLLATE "C" NOT NULL,
	role_name   text NOT NULL,
	schema_name text NOT NULL,
	password    text NOT NULL,
	PRIMARY KEY (plugin_id, server_id)
);
