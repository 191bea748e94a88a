-- Admins' approvals of iframe dashboards (maid serve --iframe-dashboards=
-- approve). An approval is of the plugin's dashboard files as they were
-- (digest): a plugin replaced with other dashboard files needs a new one.
CREATE TABLE dashboard_approvals (
	plugin_id   text COLLATE "C" NOT NULL PRIMARY KEY REFERENCES plugins (id) ON DELETE CASCADE,
	digest      text   NOT NULL,
	approved_by text   NOT NULL,
	approved_at bigint NOT NULL
);
