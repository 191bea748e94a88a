-- Cluster mode (maid serve --cluster): nodes, shard leases with a fencing
-- generation, the delivery ledger that recognises events handled twice
-- across a hand-over, plugin effects applied once per event, and the
-- identify budget shared by every node. PostgreSQL only: SQLite refuses
-- cluster mode. Times are the database's clock (now()), so nodes' clocks
-- never have to agree.
CREATE TABLE cluster_nodes (
	id           text COLLATE "C" NOT NULL PRIMARY KEY,
	addr         text        NOT NULL DEFAULT '',
	started_at   timestamptz NOT NULL DEFAULT now(),
	heartbeat_at timestamptz NOT NULL DEFAULT now(),
	draining     boolean     NOT NULL DEFAULT false,
	left_at      timestamptz
);

-- One row per gateway shard. generation grows by one on every change of
-- owner; every write made for the shard names the generation it holds
-- and is refused once the row has moved on (fencing).
CREATE TABLE cluster_leases (
	shard       integer     NOT NULL PRIMARY KEY,
	shard_count integer     NOT NULL,
	node        text COLLATE "C",
	generation  bigint      NOT NULL DEFAULT 0,
	expires_at  timestamptz NOT NULL DEFAULT 'epoch',
	acquired_at timestamptz,
	renewed_at  timestamptz,
	session_id  text        NOT NULL DEFAULT '',
	seq         bigint      NOT NULL DEFAULT 0,
	resume_url  text        NOT NULL DEFAULT '',
	handovers   bigint      NOT NULL DEFAULT 0,
	last_event  timestamptz
);

-- Events claimed for delivery, by gateway session and sequence. done:
-- every plugin handled it (a replay is dropped); a claim of an older
-- generation that is not done is delivered again by the new owner.
CREATE TABLE cluster_events (
	shard      integer     NOT NULL,
	session_id text COLLATE "C" NOT NULL,
	seq        bigint      NOT NULL,
	generation bigint      NOT NULL,
	done       boolean     NOT NULL DEFAULT false,
	at         timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (shard, session_id, seq)
);
CREATE INDEX cluster_events_at ON cluster_events (at);

-- Plugin writes made while handling an event, by event and the write's
-- ordinal within that handling: a redelivered event's writes that were
-- already committed are skipped, so a plugin's KV effects apply once.
CREATE TABLE cluster_effects (
	event_key text COLLATE "C" NOT NULL,
	plugin_id text COLLATE "C" NOT NULL,
	ordinal   integer     NOT NULL,
	at        timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (event_key, plugin_id, ordinal)
);
CREATE INDEX cluster_effects_at ON cluster_effects (at);

-- IDENTIFY budget: one row per max_concurrency bucket (next allowed
-- identify), and the daily session-start count.
CREATE TABLE cluster_identify (
	bucket  integer     NOT NULL PRIMARY KEY,
	next_at timestamptz NOT NULL DEFAULT 'epoch'
);
CREATE TABLE cluster_session_starts (
	day   date   NOT NULL PRIMARY KEY,
	count bigint NOT NULL DEFAULT 0
);

-- Plugin installs seen by every node: bumped on install, replace and
-- remove (a NOTIFY speeds it up; nodes poll it as a fallback).
CREATE TABLE cluster_plugin_changes (
	plugin_id text COLLATE "C" NOT NULL PRIMARY KEY,
	version   bigint      NOT NULL,
	removed   boolean     NOT NULL DEFAULT false,
	node      text        NOT NULL DEFAULT '',
	at        timestamptz NOT NULL DEFAULT now()
);
CREATE SEQUENCE cluster_plugin_change_seq;

-- Every change of the plugins table (install, replace, remove) on any node
-- is recorded here and announced on maid_plugins.
CREATE FUNCTION cluster_plugin_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	pid text;
BEGIN
	IF TG_OP = 'DELETE' THEN
		pid := OLD.id;
	ELSE
		pid := NEW.id;
	END IF;
	INSERT INTO cluster_plugin_changes (plugin_id, version, removed)
	VALUES (pid, nextval('cluster_plugin_change_seq'), TG_OP = 'DELETE')
	ON CONFLICT (plugin_id) DO UPDATE SET version = EXCLUDED.version, removed = EXCLUDED.removed, at = now();
	PERFORM pg_notify('maid_plugins', pid);
	RETURN NULL;
END
$$;
CREATE TRIGGER plugins_cluster_changed AFTER INSERT OR UPDATE OR DELETE ON plugins
	FOR EACH ROW EXECUTE FUNCTION cluster_plugin_changed();
