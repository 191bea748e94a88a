package engine

import (
	"errors"

	"github.com/maidhq/maid/sandbox"
)

// ErrorCode is the engine's stable name for an error's class: the sentinel
// it wraps, as a short string ("invalid", "not_found", "timeout",
// "capability", "limit", "plugin_error", "unavailable"; anything else
// "internal"). The dashboard's JSON error bodies, the CLI's and the metrics'
// error labels all use it, so one failure has one name everywhere. It lives
// beside the sentinels it maps, as rpc.CodeOf lives beside rpc's codes,
// rather than in one adapter that the others would import.
func ErrorCode(err error) string {
	switch {
	case errors.Is(err, ErrInvalid):
		return "invalid"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrTimeout):
		return "timeout"
	case errors.Is(err, ErrCapability), errors.Is(err, ErrSQLDenied):
		return "capability"
	case errors.Is(err, ErrQuota), errors.Is(err, ErrLimit), errors.Is(err, ErrSQLLimit), errors.Is(err, ErrOverflow):
		return "limit"
	case errors.Is(err, ErrPlugin):
		return "plugin_error"
	case errors.Is(err, ErrUnavailable), errors.Is(err, sandbox.ErrUnavailable):
		return "unavailable"
	}
	return "internal"
}
