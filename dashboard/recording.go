package dashboard

import (
	"context"
	"errors"
	"net/http"
	"regexp"

	"github.com/labstack/echo/v4"

	"github.com/maidhq/maid/engine"
)

// Recordings of failed events (engine.Recording) are offered for download
// from the log line that reports the failure, for `maid replay --exact`.
// A recording holds the server's data (KV values, SQL rows, members the
// plugin read), so only that server's managers and the admins may fetch
// it: the :server parameter is authorized like every server page, and the
// engine only finds a recording under its own plugin and server, so a
// manager of server A cannot fetch server B's by naming B's recording id
// under A. (docs/security.md, "Recordings".)

// recordingSource is the engine side of the download (engine.Engine has
// it); an optional port, so the Engine port stays as it is.
type recordingSource interface {
	Recording(ctx context.Context, pluginID, serverID, id string) (engine.RecordingInfo, []byte, error)
}

var _ recordingSource = (*engine.Engine)(nil)

// recordingIDRe: the engine's ids are 24 hex digits (newToken).
var recordingIDRe = regexp.MustCompile(`^[0-9a-f]{1,64}$`)

// recordingRoutes registers the download.
func (s *Site) recordingRoutes(e *echo.Echo, auth []echo.MiddlewareFunc) {
	e.GET("/s/:server/p/:plugin/recordings/:id", s.downloadRecording, auth...)
}

func (s *Site) downloadRecording(c echo.Context) error {
	_, sv, err := s.serverParam(c)
	if err != nil {
		return err
	}
	id := c.Param("id")
	if !recordingIDRe.MatchString(id) {
		return errStatus(http.StatusNotFound, "not_found", "no such recording")
	}
	pluginID := c.Param("plugin")
	if _, ok := s.eng.Plugin(pluginID); !ok {
		return errStatus(http.StatusNotFound, "not_found", "no such plugin")
	}
	src, ok := s.eng.(recordingSource)
	if !ok {
		return errStatus(http.StatusNotFound, "not_found", "this host keeps no recordings")
	}
	_, body, err := src.Recording(c.Request().Context(), pluginID, sv.ID, id)
	if errors.Is(err, engine.ErrNotFound) {
		return errStatus(http.StatusNotFound, "not_found", "no such recording (recordings are kept for the latest failures only)")
	}
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Content-Disposition", `attachment; filename="`+pluginID+"-"+id+`.json"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	return c.Blob(http.StatusOK, "application/json", body)
}
