-- Admins' approvals of iframe dashboards (maid serve --iframe-dashboards=
-- approve). An approval is of the plugin's dashboard files as they were
-- (digest): a plugin replaced with other dashboard files needs a new one.
CREATE TABLE dashboard_approvals (
	plugin_id   TEXT    NOT NULL PRIMARY KEY REFERENCES plugins (id) ON DELETE CASCADE,
	digest      TEXT    NOT NULL,
	approved_by TEXT    NOT NULL,
	approved_at INTEGER NOT NULL
) WITHOUT ROWID;
