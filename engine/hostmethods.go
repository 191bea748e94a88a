package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/maidhq/maid/plugin"
	"github.com/maidhq/maid/rpc"
)

// hostMethod is one plugin→host method of docs/protocol.md. The table below
// is the only list of them: the plugin's path (supervisor.serve) and the
// dashboard bridge (Engine.HostCall) both look methods up here, so a method
// cannot be known to one and missing from the other, and its capability is
// checked the same way on both. (Before, a needs map, a switch, a Discord
// switch and a bridge map each listed them, and a method missing from one
// fell through to "method not found".)
type hostMethod struct {
	// capability the manifest must declare; "" none.
	capability string
	// bridge says whether a plugin's dashboard iframe may call the method
	// through HostCall, and whether it then only reads.
	bridge bridgeUse
	// anytime: callable without a host→plugin call in progress (no call
	// token, no server): only log, which touches no data.
	anytime bool
	// large: the result may be up to a line limit (a batch read, a query),
	// so the plugin's call takes a share of its connection's budget of
	// large results (rpc.Reserve) before building it: 64 calls in flight
	// must not hold 64 line limits of results at once.
	large bool
	// inline: on a backend that hands over whole lines (wasm), the call is
	// served on the guest's own goroutine (rpc.Options.Inline): the guest
	// waits for these anyway, and a goroutine start, its stack growth and
	// the guest's wake-up were about a fifth of a wasm kv.set. Only
	// store writes with a small answer that never Reserve (so never large),
	// and whose statements are bounded by the database (busy_timeout,
	// pgGroupTimeouts), since a stopped guest exits only once they return.
	// A plugin's other coroutines (asyncio) wait meanwhile too.
	inline bool
	serve  func(ctx context.Context, c hostCall, params json.RawMessage) (any, error)
}

// bridgeUse is what the dashboard bridge may do with a host method.
type bridgeUse int

const (
	bridgeNever bridgeUse = iota // plugin code only
	bridgeRead                   // reads: allowed even when the bridge is read_only
	bridgeWrite                  // writes: refused when the bridge is read_only
)

// hostCall is what one host method call serves: one plugin (its
// supervisor), on the server of the call in progress.
type hostCall struct {
	d     *deps
	s     *supervisor
	scope callScope
}

func (c hostCall) kvScope() Scope { return Scope{PluginID: c.s.id, ServerID: c.scope.serverID} }

// hostMethods is every host method. The bridge serves kv, metrics reads
// and sql (spec 000; "dashboard" itself is CallDashboard): an iframe reads
// metrics, plugins record them.
var hostMethods = map[string]hostMethod{
	"kv.get":      {capability: plugin.CapStorageKV, bridge: bridgeRead, serve: kvGet},
	"kv.set":      {capability: plugin.CapStorageKV, bridge: bridgeWrite, inline: true, serve: kvSet},
	"kv.delete":   {capability: plugin.CapStorageKV, bridge: bridgeWrite, inline: true, serve: kvDelete},
	"kv.list":     {capability: plugin.CapStorageKV, bridge: bridgeRead, large: true, serve: kvList},
	"kv.count":    {capability: plugin.CapStorageKV, bridge: bridgeRead, serve: kvCount},
	"kv.get_many": {capability: plugin.CapStorageKV, bridge: bridgeRead, large: true, serve: kvGetMany},
	"kv.set_many": {capability: plugin.CapStorageKV, bridge: bridgeWrite, inline: true, serve: kvSetMany},

	"metrics.increment": {capability: plugin.CapMetricsWrite, serve: metricsIncrement},
	"metrics.query":     {bridge: bridgeRead, serve: metricsQuery(false)},
	"metrics.total":     {bridge: bridgeRead, serve: metricsQuery(true)},

	"sql.query":   {capability: plugin.CapStorageSQL, bridge: bridgeRead, large: true, serve: sqlCall(false)},
	"sql.execute": {capability: plugin.CapStorageSQL, bridge: bridgeWrite, serve: sqlCall(true)},

	"discord.send_message":    discordMethod(plugin.CapDiscordSendMessages, discordSend, "channel_id"),
	"discord.edit_message":    discordMethod(plugin.CapDiscordSendMessages, discordEdit, "channel_id", "message_id"),
	"discord.delete_message":  discordMethod(plugin.CapDiscordSendMessages, discordDelete, "channel_id", "message_id"),
	"discord.add_reaction":    discordMethod(plugin.CapDiscordSendMessages, discordReaction(true), "channel_id", "message_id", "emoji"),
	"discord.remove_reaction": discordMethod(plugin.CapDiscordSendMessages, discordReaction(false), "channel_id", "message_id", "emoji"),
	"discord.add_role":        discordMethod(plugin.CapDiscordManageRoles, discordRole(true), "user_id", "role_id"),
	"discord.remove_role":     discordMethod(plugin.CapDiscordManageRoles, discordRole(false), "user_id", "role_id"),
	"discord.get_member":      discordMethod(plugin.CapDiscordReadMembers, discordGetMember, "user_id"),

	"log": {anytime: true, serve: serveLog},
}

// bridgeMethodNames lists the methods the bridge may call, for messages.
func bridgeMethodNames() string {
	var names []string
	for name, m := range hostMethods {
		if m.bridge != bridgeNever {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// serve runs one host call for the supervisor's plugin, scoped to scope's
// server: the plugin's own path to the table.
func (s *supervisor) serve(ctx context.Context, scope callScope, method string, params json.RawMessage) (any, error) {
	m, known := hostMethods[method]
	if !known {
		return nil, rpc.Errorf(rpc.ErrMethodNotFound, "host method %q does not exist", method)
	}
	if m.capability != "" && !s.pkg.Manifest.Has(m.capability) {
		msg := fmt.Sprintf("%s needs capability %q; declare it in the manifest's capabilities", method, m.capability)
		s.logs.addFor(s.d.now(), scope.serverID, "warning", "host", "denied: "+msg)
		return nil, rpc.Errorf(rpc.ErrCapability, "%s", msg)
	}
	if m.large {
		if err := rpc.Reserve(ctx); err != nil {
			return nil, toRPC(method, err)
		}
	}
	if scope.fence != nil && m.bridge == bridgeWrite {
		f := *scope.fence
		f.Plugin, f.Ordinal = s.id, int(scope.writes.Add(1))
		ctx = WithFence(ctx, f)
	}
	res, err := m.serve(ctx, hostCall{d: s.d, s: s, scope: scope}, params)
	if err != nil {
		// Refusals are the operator's record of a plugin pushing its limits
		// (the ring is bounded, so a plugin looping on them only fills it).
		switch {
		case errors.Is(err, ErrSQLDenied), errors.Is(err, ErrForbidden):
			s.logs.addFor(s.d.now(), scope.serverID, "warning", "host", "denied: "+err.Error())
		case errors.Is(err, ErrQuota), errors.Is(err, ErrLimit), errors.Is(err, ErrSQLLimit):
			s.logs.addFor(s.d.now(), scope.serverID, "warning", "host", "limit: "+err.Error())
		}
		return nil, toRPC(method, err)
	}
	if dataWrite(method, m) {
		s.d.versions.bump(Scope{PluginID: s.id, ServerID: scope.serverID})
	}
	return res, nil
}

// HostCall performs a host method for a plugin's dashboard iframe (the
// MaidSDK bridge), scoped to serverID: one the table marks for the bridge
// (kv.*, metrics.query, metrics.total, sql.*), with the same capability
// checks and limits as calls from the plugin's own code. Only iframe-mode
// plugins (a dashboard/ directory) have a bridge: manifest-mode and
// dashboard-less plugins never call it, so it would only be a way into
// their data. The plugin must be enabled on the server. A plugin whose
// manifest declares "dashboard_bridge": "read_only" gets the reading
// methods only, and its sql.query runs in a read-only database session.
// Whether the plugin's iframe is served at all (the operator's
// --iframe-dashboards and an admin's approval) is the dashboard's decision,
// which it makes before calling: the engine knows no approvals.
func (e *Engine) HostCall(ctx context.Context, pluginID, serverID, method string, params json.RawMessage) (any, error) {
	m, ok := hostMethods[method]
	if !ok || m.bridge == bridgeNever {
		return nil, fmt.Errorf("bridge %s: %w: only %s may be called from a dashboard", method, ErrCapability, bridgeMethodNames())
	}
	if err := checkServerID(serverID); err != nil {
		return nil, err
	}
	s, err := e.supFor(ctx, pluginID, serverID)
	if err != nil {
		return nil, fmt.Errorf("bridge %s: %w", method, err)
	}
	if s.pkg.Mode != plugin.ModeIframe {
		return nil, fmt.Errorf("bridge %s: %w: plugin %q has no iframe dashboard (a dashboard/ directory), so no dashboard bridge", method, ErrCapability, pluginID)
	}
	readOnly := s.pkg.Manifest.DashboardBridge == plugin.BridgeReadOnly
	if readOnly && m.bridge != bridgeRead {
		s.logs.addFor(e.now(), serverID, "warning", "host", "dashboard bridge denied: "+method+" writes; the manifest declares the bridge read_only")
		return nil, fmt.Errorf("bridge %s: %w: the plugin declares its dashboard bridge read_only", method, ErrCapability)
	}
	enabled, _, err := e.serverState(ctx, serverID, s)
	if err != nil {
		return nil, fmt.Errorf("bridge %s: %w", method, err)
	}
	if !enabled {
		return nil, fmt.Errorf("bridge %s: %w: plugin %q is not enabled on server %s", method, ErrNotFound, pluginID, serverID)
	}
	if m.capability != "" && !s.pkg.Manifest.Has(m.capability) {
		s.logs.addFor(e.now(), serverID, "warning", "host", "dashboard bridge denied: "+method+" needs "+m.capability)
		return nil, fmt.Errorf("bridge %s: %w: needs capability %q", method, ErrCapability, m.capability)
	}
	if len(params) == 0 {
		params = json.RawMessage("{}")
	}
	res, err := m.serve(ctx, hostCall{d: e.deps, s: s, scope: callScope{serverID: serverID, readOnly: readOnly}}, params)
	if err != nil {
		return nil, fmt.Errorf("bridge %s: %w", method, err)
	}
	return res, nil
}

func kvGet(ctx context.Context, c hostCall, params json.RawMessage) (any, error) {
	var p struct{ Key string }
	if err := decode(params, &p); err != nil {
		return nil, err
	}
	if err := c.d.checkKey(p.Key); err != nil {
		return nil, err
	}
	v, found, err := c.d.store.KVGet(ctx, c.kvScope(), p.Key)
	if err != nil {
		return nil, err
	}
	if !found {
		v = json.RawMessage("null")
	}
	return map[string]any{"value": v, "found": found}, nil
}

func kvSet(ctx context.Context, c hostCall, params json.RawMessage) (any, error) {
	var p struct {
		Key   string
		Value json.RawMessage
	}
	if err := decode(params, &p); err != nil {
		return nil, err
	}
	if err := c.d.checkKey(p.Key); err != nil {
		return nil, err
	}
	if err := c.d.checkValue(p.Key, p.Value); err != nil {
		return nil, err
	}
	return struct{}{}, c.d.store.KVSet(ctx, c.kvScope(), p.Key, compact(p.Value), c.d.limits.Quota)
}

func kvDelete(ctx context.Context, c hostCall, params json.RawMessage) (any, error) {
	var p struct{ Key string }
	if err := decode(params, &p); err != nil {
		return nil, err
	}
	if err := c.d.checkKey(p.Key); err != nil {
		return nil, err
	}
	deleted, err := c.d.store.KVDelete(ctx, c.kvScope(), p.Key)
	return map[string]any{"deleted": deleted}, err
}

func kvList(ctx context.Context, c hostCall, params json.RawMessage) (any, error) {
	var p struct {
		Prefix string
		Limit  int
	}
	if err := decode(params, &p); err != nil {
		return nil, err
	}
	if p.Limit <= 0 || p.Limit > c.d.limits.Quota.MaxKeys {
		p.Limit = c.d.limits.Quota.MaxKeys
	}
	keys, err := c.d.store.KVListMax(ctx, c.kvScope(), p.Prefix, p.Limit, c.d.resultBytes())
	if keys == nil {
		keys = []string{}
	}
	return map[string]any{"keys": keys}, err
}

// resultBytes bounds the data of one kv.get_many or kv.list result: the
// protocol line limit less room for the JSON around it, so a result that
// could not be sent is never read whole. (Over the bridge it bounds the
// HTTP answer the same way.)
func (d *deps) resultBytes() int64 {
	return int64(d.limits.MaxLineBytes) - int64(min(d.limits.MaxLineBytes/4, 16<<10))
}

func kvCount(ctx context.Context, c hostCall, params json.RawMessage) (any, error) {
	var p struct{ Prefix string }
	if err := decode(params, &p); err != nil {
		return nil, err
	}
	n, err := c.d.store.KVCount(ctx, c.kvScope(), p.Prefix)
	return map[string]any{"count": n}, err
}

func kvGetMany(ctx context.Context, c hostCall, params json.RawMessage) (any, error) {
	var p struct{ Keys []string }
	if err := decode(params, &p); err != nil {
		return nil, err
	}
	if err := c.d.checkBatch(len(p.Keys)); err != nil {
		return nil, err
	}
	for _, k := range p.Keys {
		if err := c.d.checkKey(k); err != nil {
			return nil, err
		}
	}
	vals, err := c.d.store.KVGetManyMax(ctx, c.kvScope(), p.Keys, c.d.resultBytes())
	if vals == nil {
		vals = map[string]json.RawMessage{}
	}
	return map[string]any{"values": vals}, err
}

func kvSetMany(ctx context.Context, c hostCall, params json.RawMessage) (any, error) {
	var p struct{ Values map[string]json.RawMessage }
	if err := decode(params, &p); err != nil {
		return nil, err
	}
	if err := c.d.checkBatch(len(p.Values)); err != nil {
		return nil, err
	}
	for k, v := range p.Values {
		if err := c.d.checkKey(k); err != nil {
			return nil, err
		}
		if err := c.d.checkValue(k, v); err != nil {
			return nil, err
		}
		p.Values[k] = compact(v)
	}
	return struct{}{}, c.d.store.KVSetMany(ctx, c.kvScope(), p.Values, c.d.limits.Quota)
}

func metricsIncrement(ctx context.Context, c hostCall, params json.RawMessage) (any, error) {
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
	return struct{}{}, c.d.store.MetricAdd(ctx, c.scope.serverID, c.s.id, p.Name, c.d.now().UTC().Format(dayLayout), v, c.d.limits.MetricNames)
}

// metricsQuery serves metrics.query, or metrics.total when total is set.
func metricsQuery(total bool) func(context.Context, hostCall, json.RawMessage) (any, error) {
	return func(ctx context.Context, c hostCall, params json.RawMessage) (any, error) {
		var p struct{ Name, Period string }
		if err := decode(params, &p); err != nil {
			return nil, err
		}
		q, err := c.d.queryMetric(ctx, c.scope.serverID, c.s.id, p.Name, p.Period)
		if err != nil {
			return nil, err
		}
		if total {
			return map[string]any{"total": q.Total}, nil
		}
		return q, nil
	}
}

// sqlCall serves sql.query, or sql.execute when exec is set.
func sqlCall(exec bool) func(context.Context, hostCall, json.RawMessage) (any, error) {
	return func(ctx context.Context, c hostCall, params json.RawMessage) (any, error) {
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
		// p.Params go to the store as decoded: converting JSON scalars to
		// driver values, and refusing anything else, is the PluginSQL
		// port's one job (store's bindArgs), not done twice.
		args := p.Params
		lim := c.d.limits.SQL
		lim.ReadOnly = c.scope.readOnly
		if exec {
			return c.d.store.SQLExec(ctx, c.kvScope(), p.SQL, args, lim)
		}
		return c.d.store.SQLQuery(ctx, c.kvScope(), p.SQL, args, lim)
	}
}

// discordArgs are the params of every discord.* method.
type discordArgs struct {
	ChannelID string            `json:"channel_id"`
	MessageID string            `json:"message_id"`
	Content   string            `json:"content"`
	Embeds    []json.RawMessage `json:"embeds"`
	ReplyTo   string            `json:"reply_to"`
	Emoji     string            `json:"emoji"`
	UserID    string            `json:"user_id"`
	RoleID    string            `json:"role_id"`
}

func (p discordArgs) field(name string) string {
	switch name {
	case "channel_id":
		return p.ChannelID
	case "message_id":
		return p.MessageID
	case "emoji":
		return p.Emoji
	case "user_id":
		return p.UserID
	case "role_id":
		return p.RoleID
	}
	return "" // not a field: a typo in the table, which TestHostMethodTable catches
}

type discordFunc func(ctx context.Context, c hostCall, dc Discord, p discordArgs) (any, error)

// discordMethod is a discord.* host method: the Discord port must be
// configured and the required params present before do runs.
func discordMethod(capability string, do discordFunc, required ...string) hostMethod {
	return hostMethod{capability: capability, serve: func(ctx context.Context, c hostCall, params json.RawMessage) (any, error) {
		dc := c.d.discord
		if dc == nil {
			return nil, fmt.Errorf("%w: no Discord connection is configured", ErrUnavailable)
		}
		var p discordArgs
		if err := decode(params, &p); err != nil {
			return nil, err
		}
		// One spelling of each id: the message record compares text, and
		// "0777" is message 777 to Discord (attack V).
		for _, id := range []*string{&p.ChannelID, &p.MessageID, &p.ReplyTo, &p.UserID, &p.RoleID} {
			*id = CanonicalID(*id)
		}
		for _, f := range required {
			if p.field(f) == "" {
				return nil, fmt.Errorf("%w: %s is required", ErrInvalid, f)
			}
		}
		return do(ctx, c, dc, p)
	}}
}

// SentMessagesKept is how many message ids (and reactions it added) the
// engine remembers per (plugin, server) as that plugin's (MessageStore): a
// plugin may edit, delete and remove reactions from the newest this many
// of its messages on a server, and remove the reactions it added; older
// ones are forgotten.
const SentMessagesKept = 10_000

func discordSend(ctx context.Context, c hostCall, dc Discord, p discordArgs) (any, error) {
	if p.Content == "" && len(p.Embeds) == 0 {
		return nil, fmt.Errorf("%w: content or embeds is required", ErrInvalid)
	}
	if utf8.RuneCountInString(p.Content) > 2000 {
		return nil, fmt.Errorf("%w: content is over Discord's 2000 characters", ErrLimit)
	}
	id, err := dc.SendMessage(ctx, c.scope.serverID, OutMessage{ChannelID: p.ChannelID, Content: p.Content, Embeds: p.Embeds, ReplyTo: p.ReplyTo})
	if err != nil {
		return map[string]any{"id": id}, err
	}
	// The message is sent either way: failing the call would make the
	// plugin send it again. It only cannot edit this one later.
	if err := c.d.store.RecordMessage(context.WithoutCancel(ctx), c.kvScope(), id, SentMessagesKept); err != nil {
		c.s.logs.addFor(c.d.now(), c.scope.serverID, "warning", "host", fmt.Sprintf("message %s sent but not recorded as this plugin's, so it cannot be edited or deleted: %v", id, err))
	}
	return map[string]any{"id": id}, nil
}

// ownMessage refuses a message the calling plugin did not send on the
// call's server: every plugin's messages are the bot's to Discord, so
// without this a plugin could rewrite or delete another's (attack Q1).
func ownMessage(ctx context.Context, c hostCall, op, messageID string) error {
	sent, err := c.d.store.SentMessage(ctx, c.kvScope(), messageID)
	if err != nil {
		return fmt.Errorf("%s message %s: %w", op, messageID, err)
	}
	if !sent {
		return fmt.Errorf("%s message %s: %w: this plugin did not send it on this server (or it is older than its newest %d): a plugin may edit and delete only messages it sent", op, messageID, ErrForbidden, SentMessagesKept)
	}
	return nil
}

func discordEdit(ctx context.Context, c hostCall, dc Discord, p discordArgs) (any, error) {
	if err := ownMessage(ctx, c, "edit", p.MessageID); err != nil {
		return nil, err
	}
	return struct{}{}, dc.EditMessage(ctx, c.scope.serverID, p.ChannelID, p.MessageID, p.Content)
}

func discordDelete(ctx context.Context, c hostCall, dc Discord, p discordArgs) (any, error) {
	if err := ownMessage(ctx, c, "delete", p.MessageID); err != nil {
		return nil, err
	}
	return struct{}{}, dc.DeleteMessage(ctx, c.scope.serverID, p.ChannelID, p.MessageID)
}

// discordReaction adds a reaction (to any message of the server: harmless)
// or removes the bot's own. The bot's reactions are every plugin's, so
// removing one could undo another plugin's (a poll's options, a
// verification prompt's check mark): a plugin removes reactions on its own
// messages, and ones it added itself elsewhere (a "working on it" mark on
// a member's message), which the message record keeps as reactionKey. A
// reaction on another plugin's message, or one another plugin added
// first, is not recorded: adding what the bot already shows would
// otherwise let a plugin take it over.
func discordReaction(add bool) discordFunc {
	return func(ctx context.Context, c hostCall, dc Discord, p discordArgs) (any, error) {
		key := reactionKey(p.MessageID, p.Emoji)
		if add {
			if err := dc.AddReaction(ctx, c.scope.serverID, p.ChannelID, p.MessageID, p.Emoji); err != nil {
				return nil, err
			}
			if err := recordReaction(ctx, c, p.MessageID, key); err != nil {
				c.s.logs.addFor(c.d.now(), c.scope.serverID, "warning", "host", fmt.Sprintf("reaction %s on message %s added but not recorded as this plugin's, so it cannot remove it: %v", p.Emoji, p.MessageID, err))
			}
			return struct{}{}, nil
		}
		added, err := c.d.store.SentMessage(ctx, c.kvScope(), key)
		if err != nil {
			return nil, fmt.Errorf("remove reaction from message %s: %w", p.MessageID, err)
		}
		if !added {
			if err := ownMessage(ctx, c, "remove reaction from", p.MessageID); err != nil {
				return nil, err
			}
		}
		if err := dc.RemoveReaction(ctx, c.scope.serverID, p.ChannelID, p.MessageID, p.Emoji); err != nil {
			return nil, err
		}
		// Gone from Discord, so no longer the plugin's: a stale record
		// would claim the same reaction when another plugin puts it there
		// later (attack W).
		if added {
			if err := c.d.store.ForgetMessage(context.WithoutCancel(ctx), c.kvScope(), key); err != nil {
				c.s.logs.addFor(c.d.now(), c.scope.serverID, "warning", "host", fmt.Sprintf("reaction %s on message %s removed but still recorded as this plugin's: %v", p.Emoji, p.MessageID, err))
			}
		}
		return struct{}{}, nil
	}
}

// recordReaction records a reaction the plugin added, unless its own
// message already lets it remove it, or another plugin's message or
// reaction came first.
func recordReaction(ctx context.Context, c hostCall, messageID, key string) error {
	ctx = context.WithoutCancel(ctx) // the reaction is on Discord either way
	st, sc := c.d.store, c.kvScope()
	for _, check := range []func() (bool, error){
		func() (bool, error) { return st.SentMessage(ctx, sc, messageID) },
		func() (bool, error) { return st.SentMessage(ctx, sc, key) },
		func() (bool, error) { return st.RecordedByOther(ctx, sc, messageID) },
		func() (bool, error) { return st.RecordedByOther(ctx, sc, key) },
	} {
		if skip, err := check(); err != nil || skip {
			return err
		}
	}
	return st.RecordMessage(ctx, sc, key, SentMessagesKept)
}

// reactionKey is how the message record (MessageStore) keeps a reaction a
// plugin added: beside its messages' ids, which are digits only, so the
// two never meet. The emoji is canonical (CanonicalEmoji, and messageID
// is by discordMethod): another spelling of a reaction another plugin
// added is the same key, so it is that plugin's, never the caller's to
// record and remove (attack V).
func reactionKey(messageID, emoji string) string {
	return "reaction " + messageID + " " + CanonicalEmoji(emoji)
}

func discordRole(add bool) discordFunc {
	return func(ctx context.Context, c hostCall, dc Discord, p discordArgs) (any, error) {
		if add {
			return struct{}{}, dc.AddRole(ctx, c.scope.serverID, p.UserID, p.RoleID)
		}
		return struct{}{}, dc.RemoveRole(ctx, c.scope.serverID, p.UserID, p.RoleID)
	}
}

func discordGetMember(ctx context.Context, c hostCall, dc Discord, p discordArgs) (any, error) {
	return dc.GetMember(ctx, c.scope.serverID, p.UserID)
}

// serveLog records a plugin's ctx.log line.
func serveLog(_ context.Context, c hostCall, params json.RawMessage) (any, error) {
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
	c.s.logs.addFor(c.d.now(), c.scope.serverID, p.Level, "sdk", p.Message)
	return struct{}{}, nil
}
