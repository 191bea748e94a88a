package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/maidhq/maid/plugin"
	"github.com/maidhq/maid/rpc"
)

// Built-in metrics the host records from events; read-only for plugins.
var builtinMetrics = map[string]bool{
	"messages":       true,
	"messages_sent":  true, // alias of messages (the spec's iframe example uses it)
	"members_joined": true,
	"members_left":   true,
}

// needs maps each plugin→host method to the capability it requires ("" none).
var needs = map[string]string{
	"kv.get": plugin.CapStorageKV, "kv.set": plugin.CapStorageKV, "kv.delete": plugin.CapStorageKV,
	"kv.list": plugin.CapStorageKV, "kv.count": plugin.CapStorageKV,
	"kv.get_many": plugin.CapStorageKV, "kv.set_many": plugin.CapStorageKV,
	"metrics.increment": plugin.CapMetricsWrite, "metrics.query": "", "metrics.total": "",
	"sql.query": plugin.CapStorageSQL, "sql.execute": plugin.CapStorageSQL,
	"discord.send_message": plugin.CapDiscordSendMessages, "discord.edit_message": plugin.CapDiscordSendMessages,
	"discord.delete_message": plugin.CapDiscordSendMessages, "discord.add_reaction": plugin.CapDiscordSendMessages,
	"discord.remove_reaction": plugin.CapDiscordSendMessages,
	"discord.add_role":        plugin.CapDiscordManageRoles, "discord.remove_role": plugin.CapDiscordManageRoles,
	"discord.get_member": plugin.CapDiscordReadMembers,
}

// serve runs one host call for the supervisor's plugin, scoped to scope's
// server.
func (s *supervisor) serve(ctx context.Context, scope callScope, method string, params json.RawMessage) (any, error) {
	d := s.d
	capName, known := needs[method]
	if !known {
		return nil, rpc.Errorf(rpc.ErrMethodNotFound, "host method %q does not exist", method)
	}
	if capName != "" && !s.pkg.Manifest.Has(capName) {
		msg := fmt.Sprintf("%s needs capability %q; declare it in the manifest's capabilities", method, capName)
		s.logs.add(d.now(), "warning", "host", "denied: "+msg)
		return nil, rpc.Errorf(rpc.ErrCapability, "%s", msg)
	}
	res, err := s.serveMethod(ctx, scope, method, params)
	if err != nil {
		// Refusals are the operator's record of a plugin pushing its limits
		// (the ring is bounded, so a plugin looping on them only fills it).
		switch {
		case errors.Is(err, ErrSQLDenied):
			s.logs.add(d.now(), "warning", "host", "denied: "+err.Error())
		case errors.Is(err, ErrQuota), errors.Is(err, ErrLimit), errors.Is(err, ErrSQLLimit):
			s.logs.add(d.now(), "warning", "host", "limit: "+err.Error())
		}
		return nil, toRPC(method, err)
	}
	return res, nil
}

// toRPC maps engine and port errors onto protocol error codes.
func toRPC(method string, err error) error {
	var re *rpc.Error
	switch {
	case errors.As(err, &re):
		return err
	case errors.Is(err, ErrCapability), errors.Is(err, ErrSQLDenied):
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

func (d *deps) checkValue(key string, v json.RawMessage) error {
	if len(v) == 0 {
		return fmt.Errorf("%w: value of %q is missing", ErrInvalid, key)
	}
	if len(v) > d.limits.ValueBytes {
		return fmt.Errorf("%w: value of %q is %d bytes of JSON; the limit is %d", ErrLimit, key, len(v), d.limits.ValueBytes)
	}
	return nil
}

func (s *supervisor) serveMethod(ctx context.Context, scope callScope, method string, params json.RawMessage) (any, error) {
	d := s.d
	kvs := Scope{PluginID: s.id, ServerID: scope.serverID}
	st := d.store
	switch method {
	case "kv.get":
		var p struct{ Key string }
		if err := decode(params, &p); err != nil {
			return nil, err
		}
		if err := d.checkKey(p.Key); err != nil {
			return nil, err
		}
		v, found, err := st.KVGet(ctx, kvs, p.Key)
		if err != nil {
			return nil, err
		}
		if !found {
			v = json.RawMessage("null")
		}
		return map[string]any{"value": v, "found": found}, nil
	case "kv.set":
		var p struct {
			Key   string
			Value json.RawMessage
		}
		if err := decode(params, &p); err != nil {
			return nil, err
		}
		if err := d.checkKey(p.Key); err != nil {
			return nil, err
		}
		if err := d.checkValue(p.Key, p.Value); err != nil {
			return nil, err
		}
		return struct{}{}, st.KVSet(ctx, kvs, p.Key, compact(p.Value), d.limits.Quota)
	case "kv.delete":
		var p struct{ Key string }
		if err := decode(params, &p); err != nil {
			return nil, err
		}
		if err := d.checkKey(p.Key); err != nil {
			return nil, err
		}
		deleted, err := st.KVDelete(ctx, kvs, p.Key)
		return map[string]any{"deleted": deleted}, err
	case "kv.list":
		var p struct {
			Prefix string
			Limit  int
		}
		if err := decode(params, &p); err != nil {
			return nil, err
		}
		if p.Limit <= 0 || p.Limit > d.limits.Quota.MaxKeys {
			p.Limit = d.limits.Quota.MaxKeys
		}
		keys, err := st.KVList(ctx, kvs, p.Prefix, p.Limit)
		if keys == nil {
			keys = []string{}
		}
		return map[string]any{"keys": keys}, err
	case "kv.count":
		var p struct{ Prefix string }
		if err := decode(params, &p); err != nil {
			return nil, err
		}
		n, err := st.KVCount(ctx, kvs, p.Prefix)
		return map[string]any{"count": n}, err
	case "kv.get_many":
		var p struct{ Keys []string }
		if err := decode(params, &p); err != nil {
			return nil, err
		}
		if len(p.Keys) > d.limits.BatchKeys {
			return nil, fmt.Errorf("%w: %d keys in one call; the limit is %d", ErrLimit, len(p.Keys), d.limits.BatchKeys)
		}
		for _, k := range p.Keys {
			if err := d.checkKey(k); err != nil {
				return nil, err
			}
		}
		vals, err := st.KVGetMany(ctx, kvs, p.Keys)
		if vals == nil {
			vals = map[string]json.RawMessage{}
		}
		return map[string]any{"values": vals}, err
	case "kv.set_many":
		var p struct{ Values map[string]json.RawMessage }
		if err := decode(params, &p); err != nil {
			return nil, err
		}
		if len(p.Values) > d.limits.BatchKeys {
			return nil, fmt.Errorf("%w: %d keys in one call; the limit is %d", ErrLimit, len(p.Values), d.limits.BatchKeys)
		}
		for k, v := range p.Values {
			if err := d.checkKey(k); err != nil {
				return nil, err
			}
			if err := d.checkValue(k, v); err != nil {
				return nil, err
			}
			p.Values[k] = compact(v)
		}
		return struct{}{}, st.KVSetMany(ctx, kvs, p.Values, d.limits.Quota)
	case "metrics.increment":
		var p struct {
			Name  string
			Value *float64
		}
		if err := decode(params, &p); err != nil {
			return nil, err
		}
		if err := checkMetricName(p.Name); err != nil {
			return nil, err
		}
		if builtinMetrics[p.Name] {
			return nil, fmt.Errorf("%w: metric %q is recorded by the host and read-only for plugins", ErrInvalid, p.Name)
		}
		v := 1.0
		if p.Value != nil {
			v = *p.Value
		}
		if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > 1e12 {
			return nil, fmt.Errorf("%w: value must be a finite number of at most 1e12", ErrInvalid)
		}
		return struct{}{}, st.MetricAdd(ctx, scope.serverID, s.id, p.Name, d.now().UTC().Format(dayLayout), v, d.limits.MetricNames)
	case "metrics.query", "metrics.total":
		var p struct{ Name, Period string }
		if err := decode(params, &p); err != nil {
			return nil, err
		}
		q, err := d.queryMetric(ctx, scope.serverID, s.id, p.Name, p.Period)
		if err != nil {
			return nil, err
		}
		if method == "metrics.total" {
			return map[string]any{"total": q.Total}, nil
		}
		return q, nil
	case "sql.query", "sql.execute":
		var p struct {
			SQL    string
			Params []any
		}
		if err := decode(params, &p); err != nil {
			return nil, err
		}
		if p.SQL == "" {
			return nil, fmt.Errorf("%w: sql must not be empty", ErrInvalid)
		}
		args, err := sqlArgs(p.Params)
		if err != nil {
			return nil, err
		}
		lim := d.limits.SQL
		lim.ReadOnly = scope.readOnly
		if method == "sql.query" {
			return st.SQLQuery(ctx, kvs, p.SQL, args, lim)
		}
		return st.SQLExec(ctx, kvs, p.SQL, args, lim)
	}
	return d.serveDiscord(ctx, scope.serverID, method, params)
}

func compact(v json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		return v
	}
	return b.Bytes()
}

// sqlArgs turns JSON params into driver values (numbers stay exact).
func sqlArgs(in []any) ([]any, error) {
	out := make([]any, len(in))
	for i, v := range in {
		switch x := v.(type) {
		case nil, string, bool:
			out[i] = x
		case json.Number:
			if n, err := x.Int64(); err == nil {
				out[i] = n
			} else if f, err := x.Float64(); err == nil {
				out[i] = f
			} else {
				return nil, fmt.Errorf("%w: params[%d]: %v", ErrInvalid, i, err)
			}
		default:
			return nil, fmt.Errorf("%w: params[%d] must be a string, number, boolean or null", ErrInvalid, i)
		}
	}
	return out, nil
}

func (d *deps) serveDiscord(ctx context.Context, serverID, method string, params json.RawMessage) (any, error) {
	dc := d.discord
	if dc == nil {
		return nil, fmt.Errorf("%w: no Discord connection is configured", ErrUnavailable)
	}
	var p struct {
		ChannelID string            `json:"channel_id"`
		MessageID string            `json:"message_id"`
		Content   string            `json:"content"`
		Embeds    []json.RawMessage `json:"embeds"`
		ReplyTo   string            `json:"reply_to"`
		Emoji     string            `json:"emoji"`
		UserID    string            `json:"user_id"`
		RoleID    string            `json:"role_id"`
	}
	if err := decode(params, &p); err != nil {
		return nil, err
	}
	need := func(fields ...[2]string) error {
		for _, f := range fields {
			if f[1] == "" {
				return fmt.Errorf("%w: %s is required", ErrInvalid, f[0])
			}
		}
		return nil
	}
	ch, msg := [2]string{"channel_id", p.ChannelID}, [2]string{"message_id", p.MessageID}
	user := [2]string{"user_id", p.UserID}
	switch method {
	case "discord.send_message":
		if err := need(ch); err != nil {
			return nil, err
		}
		if p.Content == "" && len(p.Embeds) == 0 {
			return nil, fmt.Errorf("%w: content or embeds is required", ErrInvalid)
		}
		if utf8.RuneCountInString(p.Content) > 2000 {
			return nil, fmt.Errorf("%w: content is over Discord's 2000 characters", ErrLimit)
		}
		id, err := dc.SendMessage(ctx, serverID, OutMessage{ChannelID: p.ChannelID, Content: p.Content, Embeds: p.Embeds, ReplyTo: p.ReplyTo})
		return map[string]any{"id": id}, err
	case "discord.edit_message":
		if err := need(ch, msg); err != nil {
			return nil, err
		}
		return struct{}{}, dc.EditMessage(ctx, serverID, p.ChannelID, p.MessageID, p.Content)
	case "discord.delete_message":
		if err := need(ch, msg); err != nil {
			return nil, err
		}
		return struct{}{}, dc.DeleteMessage(ctx, serverID, p.ChannelID, p.MessageID)
	case "discord.add_reaction", "discord.remove_reaction":
		if err := need(ch, msg, [2]string{"emoji", p.Emoji}); err != nil {
			return nil, err
		}
		if method == "discord.add_reaction" {
			return struct{}{}, dc.AddReaction(ctx, serverID, p.ChannelID, p.MessageID, p.Emoji)
		}
		return struct{}{}, dc.RemoveReaction(ctx, serverID, p.ChannelID, p.MessageID, p.Emoji)
	case "discord.add_role", "discord.remove_role":
		if err := need(user, [2]string{"role_id", p.RoleID}); err != nil {
			return nil, err
		}
		if method == "discord.add_role" {
			return struct{}{}, dc.AddRole(ctx, serverID, p.UserID, p.RoleID)
		}
		return struct{}{}, dc.RemoveRole(ctx, serverID, p.UserID, p.RoleID)
	case "discord.get_member":
		if err := need(user); err != nil {
			return nil, err
		}
		return dc.GetMember(ctx, serverID, p.UserID)
	}
	return nil, rpc.Errorf(rpc.ErrMethodNotFound, "host method %q does not exist", method)
}

// serveLog records a plugin's ctx.log line.
func (s *supervisor) serveLog(params json.RawMessage) (any, error) {
	var p struct{ Level, Message string }
	if err := json.Unmarshal(params, &p); err != nil {
		return nil, rpc.Errorf(rpc.ErrInvalidParams, "log: %v", err)
	}
	switch p.Level {
	case "info", "warning", "error":
	case "debug", "":
		p.Level = "info"
	case "warn":
		p.Level = "warning"
	default:
		return nil, rpc.Errorf(rpc.ErrInvalidParams, "log: level must be debug, info, warning or error")
	}
	s.logs.add(s.d.now(), p.Level, "sdk", p.Message)
	return struct{}{}, nil
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
	vals, err := d.store.MetricRange(ctx, serverID, ns, name, from.Format(dayLayout), today.Format(dayLayout))
	if err != nil {
		return MetricQuery{}, err
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
		name = "messages"
	case "guild_member_add":
		name = "members_joined"
	case "guild_member_remove":
		name = "members_left"
	default:
		return nil
	}
	return e.store.MetricAdd(ctx, ev.ServerID, "", name, e.now().UTC().Format(dayLayout), 1, 0)
}

// bridgeMethods are the host methods a plugin's dashboard iframe may call
// directly (spec 000: kv, metrics, sql; "dashboard" is CallDashboard), and
// whether each only reads. metrics.increment is not one: the bridge reads
// metrics, plugins record them.
var bridgeMethods = map[string]bool{
	"kv.get": true, "kv.list": true, "kv.count": true, "kv.get_many": true,
	"kv.set": false, "kv.delete": false, "kv.set_many": false,
	"metrics.query": true, "metrics.total": true,
	"sql.query": true, "sql.execute": false,
}

// HostCall performs a kv.*, metrics.* or sql.* host method for a plugin's
// dashboard iframe (the MaidSDK bridge), scoped to serverID, with the same
// capability checks and limits as calls from the plugin's own code. Only
// iframe-mode plugins (a dashboard/ directory) have a bridge: manifest-mode
// and dashboard-less plugins never call it, so it would only be a way into
// their data. The plugin must be enabled on the server. A plugin whose
// manifest declares "dashboard_bridge": "read_only" gets the reading
// methods only, and its sql.query runs in a read-only database session.
func (e *Engine) HostCall(ctx context.Context, pluginID, serverID, method string, params json.RawMessage) (any, error) {
	reads, ok := bridgeMethods[method]
	if !ok {
		return nil, fmt.Errorf("bridge %s: %w: only kv.*, metrics.query, metrics.total and sql.* may be called from a dashboard", method, ErrCapability)
	}
	capName := needs[method]
	if err := checkServerID(serverID); err != nil {
		return nil, err
	}
	s := e.lookup(pluginID)
	if s == nil {
		return nil, fmt.Errorf("bridge %s: %w: plugin %q is not installed", method, ErrNotFound, pluginID)
	}
	if s.pkg.Mode != plugin.ModeIframe {
		return nil, fmt.Errorf("bridge %s: %w: plugin %q has no iframe dashboard (a dashboard/ directory), so no dashboard bridge", method, ErrCapability, pluginID)
	}
	readOnly := s.pkg.Manifest.DashboardBridge == plugin.BridgeReadOnly
	if readOnly && !reads {
		s.logs.add(e.now(), "warning", "host", "dashboard bridge denied: "+method+" writes; the manifest declares the bridge read_only")
		return nil, fmt.Errorf("bridge %s: %w: the plugin declares its dashboard bridge read_only", method, ErrCapability)
	}
	enabled, _, err := e.serverState(ctx, serverID, s)
	if err != nil {
		return nil, fmt.Errorf("bridge %s: %w", method, err)
	}
	if !enabled {
		return nil, fmt.Errorf("bridge %s: %w: plugin %q is not enabled on server %s", method, ErrNotFound, pluginID, serverID)
	}
	if capName != "" && !s.pkg.Manifest.Has(capName) {
		s.logs.add(e.now(), "warning", "host", "dashboard bridge denied: "+method+" needs "+capName)
		return nil, fmt.Errorf("bridge %s: %w: needs capability %q", method, ErrCapability, capName)
	}
	if len(params) == 0 {
		params = json.RawMessage("{}")
	}
	res, err := s.serveMethod(ctx, callScope{serverID: serverID, readOnly: readOnly}, method, params)
	if err != nil {
		return nil, fmt.Errorf("bridge %s: %w", method, err)
	}
	return res, nil
}
