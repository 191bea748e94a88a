-- Dashboard sessions, one-time sign-in links and sign-in attempt counts.
-- They live in the store so that a restart signs nobody out and any node
-- serves any browser. id and token_hash are SHA-256 hashes (hex) of the
-- secrets the browser holds: a copy of this table signs nobody in.
CREATE TABLE dashboard_sessions (
	id            text COLLATE "C" NOT NULL PRIMARY KEY,
	user_id       text    NOT NULL,
	user_name     text    NOT NULL,
	avatar        text    NOT NULL,
	admin         boolean NOT NULL,
	guilds        text    NOT NULL, -- JSON array of server ids the user manages
	discord_token text    NOT NULL, -- reads the user's servers again; '' for admin links
	guilds_at     bigint  NOT NULL,
	csrf          text    NOT NULL,
	selected      text    NOT NULL,
	created_at    bigint  NOT NULL,
	expires_at    bigint  NOT NULL
);
CREATE INDEX dashboard_sessions_expires ON dashboard_sessions (expires_at);

CREATE TABLE dashboard_sign_in_links (
	token_hash text COLLATE "C" NOT NULL PRIMARY KEY,
	created_at bigint NOT NULL,
	expires_at bigint NOT NULL
);

-- Fixed-window counters of sign-in attempts, one row per client key.
CREATE TABLE dashboard_sign_in_attempts (
	client       text COLLATE "C" NOT NULL PRIMARY KEY,
	window_start bigint  NOT NULL,
	attempts     integer NOT NULL
);
CREATE INDEX dashboard_sign_in_attempts_window ON dashboard_sign_in_attempts (window_start);
