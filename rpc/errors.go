package rpc

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Sentinel errors. Each maps to one JSON-RPC error code (see docs/protocol.md,
// section 4); an *Error received from the peer unwraps to the sentinel of its
// code, so callers test with errors.Is whichever side raised it.
var (
	ErrParse          = errors.New("parse error")             // -32700: not JSON
	ErrInvalidRequest = errors.New("invalid request")         // -32600: not JSON-RPC 2.0
	ErrMethodNotFound = errors.New("method not found")        // -32601
	ErrInvalidParams  = errors.New("invalid params")          // -32602
	ErrInternal       = errors.New("internal error")          // -32603
	ErrCapability     = errors.New("capability not declared") // -32000
	ErrLimit          = errors.New("limit exceeded")          // -32001
	ErrTimeout        = errors.New("deadline exceeded")       // -32002
	ErrNotFound       = errors.New("not found")               // -32003
	ErrHandler        = errors.New("plugin handler failed")   // -32004
	ErrScope          = errors.New("unknown call scope")      // -32005
	ErrDiscord        = errors.New("discord action failed")   // -32006
	ErrIncompatible   = errors.New("incompatible protocol")   // -32010
	ErrClosed         = errors.New("connection closed")       // -32011
	ErrProtocol       = errors.New("protocol violation")      // local only: the peer broke framing
)

var codes = []struct {
	code int
	err  error
}{
	{-32700, ErrParse},
	{-32600, ErrInvalidRequest},
	{-32601, ErrMethodNotFound},
	{-32602, ErrInvalidParams},
	{-32603, ErrInternal},
	{-32000, ErrCapability},
	{-32001, ErrLimit},
	{-32002, ErrTimeout},
	{-32003, ErrNotFound},
	{-32004, ErrHandler},
	{-32005, ErrScope},
	{-32006, ErrDiscord},
	{-32010, ErrIncompatible},
	{-32011, ErrClosed},
}

// Error is a JSON-RPC error object, sent or received.
type Error struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *Error) Error() string { return fmt.Sprintf("rpc error %d: %s", e.Code, e.Message) }

// Unwrap returns the sentinel for the code, so errors.Is works across the wire.
func (e *Error) Unwrap() error {
	for _, c := range codes {
		if c.code == e.Code {
			return c.err
		}
	}
	return nil
}

// Errorf returns an error wrapping sentinel with a message; handlers return it
// to answer with that sentinel's code.
func Errorf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}

// CodeOf maps an error to its JSON-RPC code (ErrInternal's if it wraps no sentinel).
func CodeOf(err error) int {
	var re *Error
	if errors.As(err, &re) {
		return re.Code
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return codeInternal
}

// codeInternal is ErrInternal's code, the answer for an error that wraps no
// sentinel.
const codeInternal = -32603

// wireError is the error object for a sentinel, with its code from codes.
func wireError(sentinel error, msg string) *Error {
	return &Error{Code: CodeOf(sentinel), Message: msg}
}

// toWire converts any handler error into the error object sent to the peer.
func toWire(err error) *Error {
	var re *Error
	if errors.As(err, &re) {
		return re
	}
	return &Error{Code: CodeOf(err), Message: err.Error()}
}
