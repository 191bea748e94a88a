package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/maidhq/maid/engine"
)

// TestSQLParams: a host call's SQL params reach the database as the JSON
// said (integral numbers as integers, other numbers as reals, strings,
// booleans and null), and anything but a scalar is refused as invalid. The
// engine hands the decoded params to the store, whose converter is the only
// one.
func TestSQLParams(t *testing.T) {
	env := bridgeEnv(t)
	id := env.Install(t, bridgePlugin(t, "sqlparams", true, ""), "1")
	ctx := context.Background()
	tests := []struct {
		name    string
		params  string
		want    string // the row, printed
		wantErr error
	}{
		{name: "integer", params: `[41]`, want: "[42 integer]"},
		{name: "big integer", params: `[9007199254740993]`, want: "[9007199254740994 integer]"},
		{name: "exponent", params: `[1e3]`, want: "[1001 integer]"},
		{name: "real", params: `[1.5]`, want: "[2.5 real]"},
		{name: "string", params: `["x"]`, want: "[1 text]"},
		{name: "boolean", params: `[true]`, want: "[2 integer]"},
		{name: "null", params: `[null]`, want: "[<nil> null]"},
		{name: "array", params: `[[1]]`, wantErr: engine.ErrInvalid},
		{name: "object", params: `[{"a": 1}]`, wantErr: engine.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := json.RawMessage(`{"sql": "SELECT ?1 + 1 AS n, typeof(?1) AS t", "params": ` + tt.params + `}`)
			res, err := env.Engine.HostCall(ctx, id, "1", "sql.query", q)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rows := res.(engine.SQLResult).Rows
			if len(rows) != 1 || fmt.Sprint(rows[0]) != tt.want {
				t.Fatalf("rows = %v, want [%s]", rows, tt.want)
			}
		})
	}
}
