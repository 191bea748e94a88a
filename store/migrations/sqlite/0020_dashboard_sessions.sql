-- Dashboard sessions, one-time sign-in links and sign-in attempt counts.
-- They live in the store so that a restart signs nobody out and any node
-- serves any browser. id and token_hash are SHA-256 hashes (hex) of the
-- secrets the browser holds: a copy of this table signs nobody in.
CREATE TABLE dashboard_sessions (
	id            TEXT    NOT NULL PRIMARY KEY,
	user_id       TEXT    NOT NULL,
	user_name     TEXT    NOT NULL,
	avatar        TEXT    NOT NULL,
	admin         INTEGER NOT NULL,
	guilds        TEXT    NOT NULL, -- JSON array of server ids the user manages
	discord_token TEXT    NOT NULL, -- reads the user's servers again; '' for admin links
	guilds_at     INTEGER NOT NULL,
	csrf          TEXT    NOT NULL,
	selected      TEXT    NOT NULL,
	created_at    INTEGER NOT NULL,
	expires_at    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX dashboard_sessions_expires ON dashboard_sessions (expires_at);

CREATE TABLE dashboard_sign_in_links (
	token_hash TEXT    NOT NULL PRIMARY KEY,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Fixed-window counters of sign-in attempts, one row per client key.
CREATE TABLE dashboard_sign_in_attempts (
	client       TEXT    NOT NULL PRIMARY KEY,
	window_start INTEGER NOT NULL,
	attempts     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX dashboard_sign_in_attempts_window ON dashboard_sign_in_attempts (window_start);
