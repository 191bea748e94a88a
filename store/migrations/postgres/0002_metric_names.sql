-- The distinct metric names of each (server, namespace), so the engine's
-- per-(plugin, server) name quota is checked without scanning every day of
-- every metric. Existing names are carried over.
CREATE TABLE metric_names (
	server_id text COLLATE "C" NOT NULL,
	namespace text COLLATE "C" NOT NULL,
	name      text COLLATE "C" NOT NULL,
	PRIMARY KEY (server_id, namespace, name)
);
CREATE INDEX metric_names_namespace ON metric_names (namespace);
INSERT INTO metric_names (server_id, namespace, name)
	SELECT DISTINCT server_id, namespace, name FROM metrics;
