package dashboard

import (
	"net/http"
	"sort"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/maidhq/maid/engine"
)

// Logs: admins see every plugin's lines; a server's managers see the lines
// about their servers (engine.LogLine.Server), so they read their own
// plugin errors without seeing another server's. Lines about no server
// (the plugin's stderr, instance starts) are the host's: admins only.

// maxLogRows bounds the lines one logs page or API answer shows.
const maxLogRows = 500

type logRow struct {
	engine.LogLine
	Plugin     string `json:"plugin"`
	PluginName string `json:"plugin_name"`
	ServerName string `json:"server_name,omitempty"`
}

type logFilter struct {
	Plugin, Level, Server string
	After                 time.Time // follow: only lines after this
}

var levelRank = map[string]int{"info": 0, "warning": 1, "error": 2}

// visibleLogs returns the lines sess may see that pass f, oldest first,
// at most maxLogRows (the newest).
func (s *Site) visibleLogs(c echo.Context, sess *session, f logFilter) ([]logRow, []Server, error) {
	ctx := c.Request().Context()
	servers, err := s.servers(ctx, sess)
	if err != nil {
		return nil, nil, err
	}
	names := map[string]string{}
	for _, sv := range servers {
		names[sv.ID] = sv.Name
	}
	if f.Server != "" {
		if _, err := s.authorize(ctx, sess, f.Server); err != nil {
			return nil, nil, err
		}
	}
	if _, ok := levelRank[f.Level]; f.Level != "" && !ok {
		return nil, nil, errStatus(http.StatusBadRequest, "invalid", "level must be info, warning or error")
	}
	var plugins []string
	if f.Plugin != "" {
		if _, ok := s.eng.Plugin(f.Plugin); !ok {
			return nil, nil, errStatus(http.StatusNotFound, "not_found", "no such plugin")
		}
		plugins = []string{f.Plugin}
	} else {
		for _, p := range s.eng.Plugins() {
			plugins = append(plugins, p.Manifest.ID)
		}
	}
	mine := s.managed(sess)
	var rows []logRow
	for _, id := range plugins {
		pkg, ok := s.eng.Plugin(id)
		if !ok {
			continue
		}
		lines, err := s.eng.Logs(id, maxLogRows)
		if err != nil {
			continue // uninstalled meanwhile
		}
		for _, l := range lines {
			switch {
			case !sess.admin && (l.Server == "" || !mine[l.Server]):
				continue
			case f.Server != "" && l.Server != f.Server:
				continue
			case f.Level != "" && levelRank[l.Level] < levelRank[f.Level]:
				continue
			case !f.After.IsZero() && !l.Time.After(f.After) && !l.Last.After(f.After):
				continue
			}
			rows = append(rows, logRow{LogLine: l, Plugin: id, PluginName: pkg.Manifest.Name, ServerName: names[l.Server]})
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Time.Before(rows[j].Time) })
	if len(rows) > maxLogRows {
		rows = rows[len(rows)-maxLogRows:]
	}
	return rows, servers, nil
}

func logFilterOf(c echo.Context) logFilter {
	f := logFilter{Plugin: c.QueryParam("plugin"), Level: c.QueryParam("level"), Server: c.QueryParam("server")}
	if p := c.Param("plugin"); p != "" {
		f.Plugin = p
	}
	if a := c.QueryParam("after"); a != "" {
		f.After, _ = time.Parse(time.RFC3339Nano, a)
	}
	return f
}

// logsPage serves /logs (and /plugins/{plugin}/logs): the filterable log
// of the plugins, followed live by app.js through apiAllLogs.
func (s *Site) logsPage(c echo.Context) error {
	sess := sessionOf(c)
	f := logFilterOf(c)
	rows, servers, err := s.visibleLogs(c, sess, f)
	if err != nil {
		return err
	}
	type opt struct{ ID, Name string }
	var plugins []opt
	for _, p := range s.eng.Plugins() {
		plugins = append(plugins, opt{p.Manifest.ID, p.Manifest.Name})
	}
	title := "Logs"
	if pkg, ok := s.eng.Plugin(f.Plugin); ok {
		title = "Logs: " + pkg.Manifest.Name
	}
	v := s.newView(c, title, map[string]any{"Lines": rows, "Filter": f, "Plugins": plugins, "Servers": servers, "Max": maxLogRows})
	v.Active = "logs"
	return s.renderView(c, http.StatusOK, "logs.html", v)
}

// apiAllLogs serves GET /api/logs?plugin=&level=&server=&after=: the lines
// the session may see, as JSON (the logs page polls it to follow).
func (s *Site) apiAllLogs(c echo.Context) error {
	rows, _, err := s.visibleLogs(c, sessionOf(c), logFilterOf(c))
	if err != nil {
		return err
	}
	if rows == nil {
		rows = []logRow{}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]any{"lines": rows})
}
