package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/maidhq/maid/engine"
)

// pluginIDRe is the manifest's id rule; ids name files and roles here, so
// the store checks it again rather than trust every caller.
var pluginIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// serverIDRe is the engine's server id rule; server ids name plugin SQL
// files and schemas.
var serverIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func checkPluginID(id string) error {
	if !pluginIDRe.MatchString(id) {
		return fmt.Errorf("plugin_id: must be 1-128 letters, digits, '-' or '_', got %q: %w", id, engine.ErrInvalid)
	}
	return nil
}

// SQLQuery runs one statement in the scope's own database (the plugin's
// database for that server) and returns its rows, converted to JSON-friendly
// values.
func (s *Store) SQLQuery(ctx context.Context, sc engine.Scope, query string, args []any, lim engine.SQLLimits) (engine.SQLResult, error) {
	res, _, err := s.sql.run(ctx, sc, query, args, lim, true, true)
	if err != nil {
		return engine.SQLResult{}, fmt.Errorf("store: sql query of plugin %q on server %q: %w", sc.PluginID, sc.ServerID, err)
	}
	return res, nil
}

// SQLExec runs one statement in the scope's own database.
func (s *Store) SQLExec(ctx context.Context, sc engine.Scope, query string, args []any, lim engine.SQLLimits) (engine.ExecResult, error) {
	_, res, err := s.sql.run(ctx, sc, query, args, lim, false, true)
	if err != nil {
		return engine.ExecResult{}, fmt.Errorf("store: sql exec of plugin %q on server %q: %w", sc.PluginID, sc.ServerID, err)
	}
	return res, nil
}

// bindArgs converts JSON scalars to driver values, for the engine, which
// passes plugins' params as decoded (the one converter; the engine has none).
// Integral numbers become int64 so they bind as integers (SQLite LIMIT ?,
// PostgreSQL int columns).
func bindArgs(args []any) ([]any, error) {
	out := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case nil, bool, string, int64:
			out[i] = v
		case int:
			out[i] = int64(v)
		case int32:
			out[i] = int64(v)
		case float64:
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("args[%d]: must be a finite number: %w", i, engine.ErrInvalid)
			}
			out[i] = bindFloat(v)
		case json.Number:
			// The engine hands plugins' params over as decoded (numbers
			// exact): integers stay exact past 2^53, and other numbers
			// follow the float64 rule, so 1e3 binds as 1000 does.
			if n, err := v.Int64(); err == nil {
				out[i] = n
			} else if f, err := v.Float64(); err == nil {
				out[i] = bindFloat(f)
			} else {
				return nil, fmt.Errorf("args[%d]: invalid number %q: %w", i, v, engine.ErrInvalid)
			}
		default:
			return nil, fmt.Errorf("args[%d]: must be a JSON scalar (null, boolean, number or string), got %T: %w", i, a, engine.ErrInvalid)
		}
		if s, ok := out[i].(string); ok {
			if err := checkText(fmt.Sprintf("args[%d]", i), s); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// bindFloat binds an integral float as an integer.
func bindFloat(f float64) any {
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return int64(f)
	}
	return f
}

// readRows reads at most lim.MaxRows rows and lim.MaxBytes bytes (<= 0: no
// bound); passing either is ErrSQLLimit, not a truncated result.
func readRows(rows *sql.Rows, lim engine.SQLLimits) (engine.SQLResult, error) {
	cols, err := rows.Columns()
	if err != nil {
		return engine.SQLResult{}, err
	}
	types, err := rows.ColumnTypes()
	if err != nil {
		return engine.SQLResult{}, err
	}
	res := engine.SQLResult{Columns: cols, Rows: [][]any{}}
	// Column names count too: a view over a few tables can have megabytes
	// of them.
	var size int64
	for _, c := range cols {
		size += jsonStringLen(c)
	}
	if lim.MaxBytes > 0 && size > lim.MaxBytes {
		return engine.SQLResult{}, fmt.Errorf("result's column names are larger than %d bytes: %w", lim.MaxBytes, engine.ErrSQLLimit)
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if lim.MaxRows > 0 && len(res.Rows) >= lim.MaxRows {
			return engine.SQLResult{}, fmt.Errorf("result has more than %d rows: %w", lim.MaxRows, engine.ErrSQLLimit)
		}
		if err := rows.Scan(ptrs...); err != nil {
			return engine.SQLResult{}, err
		}
		row := make([]any, len(cols))
		for i, v := range vals {
			var n int64
			row[i], n = jsonValue(v, types[i].DatabaseTypeName())
			size += n
		}
		if lim.MaxBytes > 0 && size > lim.MaxBytes {
			return engine.SQLResult{}, fmt.Errorf("result is larger than %d bytes: %w", lim.MaxBytes, engine.ErrSQLLimit)
		}
		res.Rows = append(res.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return engine.SQLResult{}, err
	}
	return res, nil
}

// jsonValue converts a driver value to one encoding/json writes faithfully,
// and its approximate size: []byte becomes a string (invalid UTF-8 turns
// into U+FFFD when encoded), times RFC 3339 strings, PostgreSQL numeric a
// float64 when that keeps every digit (else its text), json/jsonb raw JSON,
// non-finite floats their text.
func jsonValue(v any, dbType string) (any, int64) {
	switch x := v.(type) {
	case nil:
		return nil, 4
	case bool:
		return x, 5
	case int64:
		return x, 8
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return strconv.FormatFloat(x, 'g', -1, 64), 8
		}
		return x, 8
	case string:
		return x, jsonStringLen(x)
	case []byte:
		switch strings.ToUpper(dbType) {
		case "NUMERIC", "DECIMAL":
			if f, err := strconv.ParseFloat(string(x), 64); err == nil && numericFits(string(x)) {
				return f, 8
			}
		case "JSON", "JSONB":
			if json.Valid(x) {
				return json.RawMessage(append([]byte(nil), x...)), int64(len(x))
			}
		}
		str := string(x)
		return str, jsonStringLen(str)
	case time.Time:
		s := x.Format(time.RFC3339Nano)
		return s, int64(len(s))
	default:
		s := fmt.Sprint(x)
		return s, int64(len(s))
	}
}

// jsonStringLen is the size of s as encoding/json writes it: control
// characters and <, >, & become six-byte \u escapes, invalid UTF-8 bytes
// three-byte U+FFFD. Counting the raw length instead let a result of NUL
// bytes within MaxBytes become six times that once encoded.
func jsonStringLen(s string) int64 {
	n := int64(len(s)) + 2
	for i, r := range s {
		switch {
		case r < 0x20 || r == '<' || r == '>' || r == '&':
			n += 5
		case r == '"' || r == '\\':
			n++
		case r == utf8.RuneError && len(s) > i && s[i] != 0xef: // an invalid byte, not a literal U+FFFD
			n += 2
		case r == '\u2028' || r == '\u2029':
			n += 3
		}
	}
	return n
}

// numericFits reports whether a numeric's text has at most 15 significant
// digits, which float64 represents exactly.
func numericFits(s string) bool {
	digits := 0
	leading := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			continue
		}
		if c == '0' && leading {
			continue
		}
		leading = false
		digits++
	}
	return digits <= 15
}

// limitCtx bounds a statement by lim.Timeout.
func limitCtx(ctx context.Context, lim engine.SQLLimits) (context.Context, context.CancelFunc) {
	if lim.Timeout > 0 {
		return context.WithTimeout(ctx, lim.Timeout)
	}
	return context.WithCancel(ctx)
}
