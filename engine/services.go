package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/maidhq/maid/rpc"
)

// Built-in metrics the host records from events; read-only for plugins.
var builtinMetrics = map[string]bool{
	"messages":       true,
	"messages_sent":  true, // alias of messages (the spec's iframe example uses it)
	"members_joined": true,
	"members_left":   true,
}

// toRPC maps engine and port errors onto protocol error codes.
func toRPC(method string, err error) error {
	var re *rpc.Error
	switch {
	case errors.As(err, &re):
		return err
	case errors.Is(err, ErrCapability), errors.Is(err, ErrSQLDenied), errors.Is(err, ErrForbidden):
		return rpc.Errorf(rpc.ErrCapability, "%s: %v", method, err)
	case errors.Is(err, ErrQuota), errors.Is(err, ErrLimit), errors.Is(err, ErrSQLLimit):
		return rpc.Errorf(rpc.ErrLimit, "%s: %v", method, err)
	case errors.Is(err, ErrInvalid):
		return rpc.Errorf(rpc.ErrInvalidParams, "%s: %v", method, err)
	case errors.Is(err, ErrNotFound):
		return rpc.Errorf(rpc.ErrNotFound, "%s: %v", method, err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, ErrTimeout):
		return rpc.Errorf(rpc.ErrTimeout, "%s: %v", method, err)
	case len(method) > 8 && method[:8] == "discord.":
		return rpc.Errorf(rpc.ErrDiscord, "%s: %v", method, err)
	default:
		return rpc.Errorf(rpc.ErrInternal, "%s: %v", method, err)
	}
}

func decode(params json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(params))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

func (d *deps) checkKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: key must not be empty", ErrInvalid)
	case len(key) > d.limits.KeyBytes:
		return fmt.Errorf("%w: key is %d bytes; the limit is %d", ErrLimit, len(key), d.limits.KeyBytes)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: key must be valid UTF-8", ErrInvalid)
	}
	return nil
}

// checkBatch refuses a get_many or set_many of more keys than BatchKeys.
func (d *deps) checkBatch(n int) error {
	if n > d.limits.BatchKeys {
		return fmt.Errorf("%w: %d keys in one call; the limit is %d", ErrLimit, n, d.limits.BatchKeys)
	}
	return nil
}

func (d *deps) checkValue(key string, v json.RawMessage) error {
	if len(v) == 0 {
		return fmt.Errorf("%w: value of %q is missing", ErrInvalid, key)
	}
	if len(v) > d.limits.ValueBytes {
		return fmt.Errorf("%w: value of %q is %d bytes of JSON; the limit is %d", ErrLimit, key, len(v), d.limits.ValueBytes)
	}
	return nil
}

func compact(v json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		return v
	}
	return b.Bytes()
}

const dayLayout = "2006-01-02"

var metricNameRe = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

func checkMetricName(n string) error {
	if !metricNameRe.MatchString(n) {
		return fmt.Errorf("%w: metric name %q must be 1-64 letters, digits, _ . : or -", ErrInvalid, n)
	}
	return nil
}

// MetricQuery is the answer of metrics.query (spec 000's chart shape).
type MetricQuery struct {
	Labels []string       `json:"labels"`
	Series []MetricSeries `json:"series"`
	Total  float64        `json:"-"`
}

// MetricSeries is one named series of a MetricQuery.
type MetricSeries struct {
	Name string    `json:"name"`
	Data []float64 `json:"data"`
}

// ParsePeriod parses "<n>d" (1 ≤ n ≤ 365) into a number of days.
func ParsePeriod(p string) (int, error) {
	if p == "" {
		return 7, nil
	}
	if len(p) < 2 || p[len(p)-1] != 'd' {
		return 0, fmt.Errorf("%w: period %q must look like \"7d\" (days)", ErrInvalid, p)
	}
	n, err := strconv.Atoi(p[:len(p)-1])
	if err != nil || n < 1 || n > 365 {
		return 0, fmt.Errorf("%w: period %q must be 1d to 365d", ErrInvalid, p)
	}
	return n, nil
}

// QueryMetric reads a metric for a server over a period ending today (UTC),
// one label per day. Built-in names read the host's counters; other names
// read pluginID's own.
func (e *Engine) QueryMetric(ctx context.Context, serverID, pluginID, name, period string) (MetricQuery, error) {
	return e.queryMetric(ctx, serverID, pluginID, name, period)
}

func (d *deps) queryMetric(ctx context.Context, serverID, pluginID, name, period string) (MetricQuery, error) {
	if err := checkMetricName(name); err != nil {
		return MetricQuery{}, err
	}
	days, err := ParsePeriod(period)
	if err != nil {
		return MetricQuery{}, err
	}
	ns := pluginID
	if builtinMetrics[name] {
		ns, name = "", canonicalMetric(name)
	}
	today := d.now().UTC().Truncate(24 * time.Hour)
	from := today.AddDate(0, 0, -(days - 1))
	if ns == "" {
		// Built-in counts not yet flushed count too; holding flushMu shared
		// keeps a flush from moving them into the store in between.
		d.builtin.flushMu.RLock()
		defer d.builtin.flushMu.RUnlock()
	}
	vals, err := d.store.MetricRange(ctx, serverID, ns, name, from.Format(dayLayout), today.Format(dayLayout))
	if err != nil {
		return MetricQuery{}, err
	}
	if ns == "" {
		if vals == nil {
			vals = map[string]float64{}
		}
		for day, v := range d.builtin.pendingOf(serverID, name) {
			if day >= from.Format(dayLayout) && day <= today.Format(dayLayout) {
				vals[day] += v
			}
		}
	}
	q := MetricQuery{Labels: make([]string, days), Series: []MetricSeries{{Name: name, Data: make([]float64, days)}}}
	for i := range days {
		d := from.AddDate(0, 0, i).Format(dayLayout)
		q.Labels[i] = d
		q.Series[0].Data[i] = vals[d]
		q.Total += vals[d]
	}
	return q, nil
}

func canonicalMetric(name string) string {
	if name == "messages_sent" {
		return "messages"
	}
	return name
}

// recordBuiltin counts the host's built-in metrics for an event.
func (e *Engine) recordBuiltin(ctx context.Context, ev Event) error {
	var name string
	switch ev.Type {
	case "message_create":
		if fromBot(ev.Data) {
			return nil // members' messages: the bot's own replies are not activity
		}
		name = "messages"
	case "guild_member_add":
		name = "members_joined"
	case "guild_member_remove":
		name = "members_left"
	default:
		return nil
	}
	n := e.builtin.add(metricKey{server: ev.ServerID, name: name, day: e.now().UTC().Format(dayLayout)}, 1)
	switch {
	case n >= 2*e.builtin.max:
		// The flusher is not keeping up (or not running): write here.
		e.flushBuiltin(ctx)
	case n >= e.builtin.max:
		select {
		case e.builtinFull <- struct{}{}:
		default:
		}
	}
	e.versions.bump(Scope{ServerID: ev.ServerID}) // every plugin reads the built-ins
	return nil
}

// fromBot reports whether a message_create's author is a bot.
func fromBot(data json.RawMessage) bool {
	var m struct {
		Author struct {
			Bot bool `json:"bot"`
		} `json:"author"`
	}
	return json.Unmarshal(data, &m) == nil && m.Author.Bot
}
