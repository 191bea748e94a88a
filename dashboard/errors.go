package dashboard

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/maidhq/maid/engine"
)

// httpError is an error with the HTTP status and the JSON error code it is
// reported with ({"error": {"code", "message"}}).
type httpError struct {
	status  int
	code    string
	message string
}

func (e *httpError) Error() string { return e.message }

func errStatus(status int, code, msg string) error {
	return &httpError{status: status, code: code, message: msg}
}

var (
	errUnauthenticated = errStatus(http.StatusUnauthorized, "unauthenticated", "sign in first")
	errCSRF            = errStatus(http.StatusForbidden, "csrf", "missing or wrong CSRF token; reload the page and try again")
	errForbidden       = errStatus(http.StatusForbidden, "forbidden", "you do not manage this server")
	errAdminOnly       = errStatus(http.StatusForbidden, "forbidden", "only admins may do this")
)

// engineError maps an engine error onto an HTTP status and code.
func engineError(err error) error {
	var he *httpError
	if errors.As(err, &he) {
		return he
	}
	code := engine.ErrorCode(err)
	status := map[string]int{
		"invalid":      http.StatusBadRequest,
		"not_found":    http.StatusNotFound,
		"timeout":      http.StatusGatewayTimeout,
		"capability":   http.StatusForbidden,
		"limit":        http.StatusUnprocessableEntity,
		"plugin_error": http.StatusBadGateway,
		"unavailable":  http.StatusServiceUnavailable,
	}[code]
	if status == 0 {
		status = http.StatusInternalServerError
	}
	return &httpError{status: status, code: code, message: err.Error()}
}

// isAPI reports whether a path answers errors as JSON.
func isAPI(path string) bool {
	return strings.HasPrefix(path, "/p/") || strings.HasPrefix(path, "/api/")
}

// handleError renders every error: JSON under /p/ and /api/, an HTML page
// elsewhere (the sign-in page for 401). Internal errors are logged and
// their text is not shown.
func (s *Site) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var he *httpError
	var ee *echo.HTTPError
	switch {
	case errors.As(err, &he):
	case errors.As(err, &ee):
		code := strings.ToLower(strings.ReplaceAll(http.StatusText(ee.Code), " ", "_"))
		msg := http.StatusText(ee.Code)
		if m, ok := ee.Message.(string); ok && m != "" {
			msg = m
		}
		he = &httpError{status: ee.Code, code: code, message: msg}
	default:
		he = engineError(err).(*httpError)
	}
	if he.status >= 500 && he.code != "timeout" && he.code != "plugin_error" {
		s.log.Error("request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
		if he.code == "internal" {
			he = &httpError{status: he.status, code: "internal", message: "internal error"}
		}
	}
	if isAPI(c.Request().URL.Path) || strings.Contains(c.Request().Header.Get("Accept"), "application/json") && !strings.Contains(c.Request().Header.Get("Accept"), "text/html") {
		_ = c.JSON(he.status, map[string]any{"error": map[string]string{"code": he.code, "message": he.message}})
		return
	}
	if he.status == http.StatusUnauthorized {
		// The sign-in page in place: the address stays, and signing in
		// comes back to it (navigations only: not a form post, not a
		// widget's fetch).
		if r := c.Request(); r.Method == http.MethodGet && sessionOf(c) == nil && strings.Contains(r.Header.Get("Accept"), "text/html") {
			s.setNext(c, r.URL.RequestURI())
		}
		_ = s.renderLogin(c, http.StatusUnauthorized, "")
		return
	}
	_ = s.render(c, he.status, "error.html", "Error", map[string]any{"Status": he.status, "Code": he.code, "Message": he.message})
}
