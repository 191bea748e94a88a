-- Each version's changelog, kept at publication so the versions page never
-- unpacks a stored archive to show it. NULL: published before this
-- migration (the page says no changelog was stored).
ALTER TABLE plugin_versions ADD COLUMN changelog TEXT;

-- Every (plugin, version) ever published, with its canonical hash. The
-- history (plugin_versions) keeps the newest versions only; this record is
-- never pruned, so an old signed package dropped from the history cannot
-- be published again unless an admin forces it. No foreign key: it
-- outlives the plugin.
CREATE TABLE published_versions (
	plugin_id    TEXT    NOT NULL,
	version      TEXT    NOT NULL,
	hash         TEXT    NOT NULL,
	published_at INTEGER NOT NULL,
	PRIMARY KEY (plugin_id, version)
) WITHOUT ROWID;
INSERT INTO published_versions (plugin_id, version, hash, published_at)
	SELECT plugin_id, version, hash, published_at FROM plugin_versions;
