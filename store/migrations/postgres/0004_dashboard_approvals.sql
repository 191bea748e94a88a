-- Admins' approvals of iframe dashboards (maid serve --iframe-dashboards=
-- approve). An approval is of the plugin package as it was (digest of
-- its files): a plugin replaced with any other file needs a new one.
CREATE TABLE dashboard_approvals (
	plugin_id   text COLLATE "C" NOT NULL PRIMARY KEY REFERENCES plugins (id) ON DELETE CASCADE,
	digest      text   NOT NULL,
	approved_by text   NOT NULL,
	approved_at bigint NOT NULL
);
