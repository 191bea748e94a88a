package dashboard

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// FuzzRequestParsing feeds arbitrary bodies and method names to the
// request parsing every /p/ and /api/ handler shares (readParams,
// decodeBody, the handler-name rule): the result is a JSON object or a
// 400/413 error in the JSON error shape, never a panic.
func FuzzRequestParsing(f *testing.F) {
	for _, s := range []struct{ body, method string }{
		{`{"page": 1}`, "get_settings"},
		{``, "dashboard.get_stats"},
		{`null`, "x"},
		{`[1,2]`, "../../etc"},
		{`{"a":` + strings.Repeat("[", 20000) + `}`, "a b"},
		{"\xff\xfe{}", "é"},
		{`{"discord_srv_id": "2"} trailing`, "_"},
		{strings.Repeat(" ", 100) + `{}`, strings.Repeat("m", 200)},
	} {
		f.Add([]byte(s.body), s.method)
	}
	e := echo.New()
	f.Fuzz(func(t *testing.T, body []byte, method string) {
		req := httptest.NewRequest(http.MethodPost, "/p/x/dashboard/rpc/m", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		c := e.NewContext(req, httptest.NewRecorder())
		raw, err := readParams(c)
		checkErr := func(err error) {
			var he *httpError
			if !errors.As(err, &he) || (he.status != http.StatusBadRequest && he.status != http.StatusRequestEntityTooLarge) || he.code == "" || he.message == "" {
				t.Fatalf("error %#v is not a 400/413 JSON error", err)
			}
		}
		if err != nil {
			checkErr(err)
		} else {
			var obj map[string]json.RawMessage
			if json.Unmarshal(raw, &obj) != nil || obj == nil {
				t.Fatalf("params %q accepted but not a JSON object", raw)
			}
			if len(raw) > maxBody {
				t.Fatalf("%d-byte params accepted; limit %d", len(raw), maxBody)
			}
		}
		req = httptest.NewRequest(http.MethodPost, "/api/x", bytes.NewReader(body))
		c = e.NewContext(req, httptest.NewRecorder())
		var v struct {
			Content string `json:"content"`
		}
		if err := decodeBody(c, &v); err != nil {
			checkErr(err)
		}
		name := strings.TrimPrefix(method, "dashboard.")
		if handlerRe.MatchString(name) && strings.ContainsAny(name, "./\\ <>\"'&%\x00") {
			t.Fatalf("handler name %q accepted with unsafe characters", name)
		}
	})
}
