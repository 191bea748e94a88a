package dashboard

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/maidhq/maid/engine"

	"github.com/maidhq/maid/plugin"
)

// maxBody bounds a JSON request body.
const maxBody = 1 << 20

var handlerRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// bridgeMethods are the host methods a plugin iframe may call through the
// MaidSDK bridge (spec 000: kv, metrics, sql; dashboard goes to rpc).
// engine.HostCall checks capabilities and enablement again.
var bridgeMethods = map[string]bool{
	"kv.get": true, "kv.set": true, "kv.delete": true, "kv.list": true, "kv.count": true,
	"kv.get_many": true, "kv.set_many": true,
	"metrics.query": true, "metrics.total": true,
	"sql.query": true, "sql.execute": true,
}

// readParams reads a JSON object body ({} when empty).
func readParams(c echo.Context) (json.RawMessage, error) {
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxBody+1))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, errBodyTooLarge(tooLarge.Limit)
	}
	if err != nil {
		return nil, errStatus(http.StatusBadRequest, "invalid", "read body: "+err.Error())
	}
	if len(body) > maxBody {
		return nil, errStatus(http.StatusRequestEntityTooLarge, "limit", "request body larger than 1 MiB")
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return json.RawMessage("{}"), nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		return nil, errStatus(http.StatusBadRequest, "invalid", "the body must be a JSON object of params")
	}
	return body, nil
}

// rpc calls a plugin's @plugin.on_dashboard handler for the current
// server: POST /p/{plugin_id}/dashboard/rpc/{method}.
func (s *Site) rpc(c echo.Context) error {
	method := strings.TrimPrefix(c.Param("method"), "dashboard.")
	if !handlerRe.MatchString(method) {
		return errStatus(http.StatusBadRequest, "invalid", "method must be a handler name (letters, digits, _)")
	}
	return s.pluginCall(c, func(ctx context.Context, pluginID, serverID string, params json.RawMessage, hold *resultHold) error {
		res, err := s.eng.CallDashboard(ctx, pluginID, serverID, method, params)
		if err != nil {
			return engineError(err)
		}
		if len(res) == 0 {
			res = json.RawMessage("null")
		}
		return answerBlob(c, hold, res)
	})
}

// hostCall serves the MaidSDK bridge's kv/metrics/sql calls for the
// current server: POST /p/{plugin_id}/dashboard/host/{method}.
func (s *Site) hostCall(c echo.Context) error {
	method := c.Param("method")
	if !bridgeMethods[method] {
		return errStatus(http.StatusForbidden, "capability", "method "+method+" is not available to dashboards (allowed: kv.*, metrics.query, metrics.total, sql.*, dashboard.*)")
	}
	return s.pluginCall(c, func(ctx context.Context, pluginID, serverID string, params json.RawMessage, hold *resultHold) error {
		res, err := s.eng.HostCall(ctx, pluginID, serverID, method, params)
		if err != nil {
			return engineError(err)
		}
		return answerJSON(c, hold, res)
	})
}

// pluginCall is what the rpc and bridge endpoints share once the method is
// checked: the session's current server, the iframe check, the params, and
// a hold on the result budget for as long as call reads and writes the
// answer.
func (s *Site) pluginCall(c echo.Context, call func(ctx context.Context, pluginID, serverID string, params json.RawMessage, hold *resultHold) error) error {
	ctx, pluginID := c.Request().Context(), c.Param("plugin")
	serverID, err := s.currentServer(c)
	if err != nil {
		return err
	}
	if err := s.frameServed(ctx, pluginID, serverID); err != nil {
		return err
	}
	params, err := readParams(c)
	if err != nil {
		return err
	}
	hold, err := s.holdResult(ctx)
	if err != nil {
		return err
	}
	defer hold.release()
	return call(ctx, pluginID, serverID, params, hold)
}

// frameServed refuses the rpc and bridge endpoints of an iframe-mode
// plugin whose iframe the operator does not serve (off, unapproved, or
// changed since approved): its page shows no iframe, so nothing it would
// load may reach the plugin's handlers or data either. These endpoints
// are the iframe's only way in; gating them here, beside the asset route
// (pluginAsset), keeps all three on one decision (Site.frame).
// Manifest-mode plugins' forms use rpc and are not affected. The decision
// is on the package of the version serverID runs, the one the engine
// calls, not on the latest: a server kept on an older iframe version (by
// pin, rollback or pending consent) is gated by that version's mode and
// approval.
func (s *Site) frameServed(ctx context.Context, pluginID, serverID string) error {
	st, err := s.eng.PluginState(ctx, serverID, pluginID)
	if errors.Is(err, engine.ErrNotFound) {
		return nil // the engine answers (not found)
	}
	if err != nil {
		return err
	}
	pkg := st.Package
	if pkg.Mode != plugin.ModeIframe {
		return nil // not an iframe dashboard: nothing to gate here
	}
	fst, err := s.frame(ctx, pkg)
	if err != nil {
		return err
	}
	if !fst.Served {
		return errStatus(http.StatusForbidden, "not_approved", frameMessage(fst.Reason))
	}
	return nil
}

func (s *Site) apiMe(c echo.Context) error {
	sess := sessionOf(c)
	s.mu.Lock()
	sel := sess.selected
	s.mu.Unlock()
	return c.JSON(http.StatusOK, map[string]any{"id": sess.userID, "name": sess.userName, "admin": sess.admin, "server": sel})
}

func (s *Site) apiServers(c echo.Context) error {
	list, err := s.servers(c.Request().Context(), sessionOf(c))
	if err != nil {
		return err
	}
	if list == nil {
		list = []Server{}
	}
	return c.JSON(http.StatusOK, map[string]any{"servers": list})
}

func (s *Site) apiServerPlugins(c echo.Context) error {
	_, sv, err := s.serverParam(c)
	if err != nil {
		return err
	}
	states, err := s.eng.ServerPlugins(c.Request().Context(), sv.ID)
	if err != nil {
		return engineError(err)
	}
	type item struct {
		ID      string         `json:"id"`
		Name    string         `json:"name"`
		Version string         `json:"version"`
		Mode    string         `json:"dashboard"`
		Enabled bool           `json:"enabled"`
		Options map[string]any `json:"options"`
	}
	out := []item{}
	for _, st := range states {
		m := st.Package.Manifest
		out = append(out, item{ID: m.ID, Name: m.Name, Version: m.Version, Mode: st.Package.Mode.String(), Enabled: st.Enabled, Options: st.Options})
	}
	return c.JSON(http.StatusOK, map[string]any{"plugins": out})
}

func (s *Site) apiLogs(c echo.Context) error { return s.apiAllLogs(c) }

func (s *Site) simServer(c echo.Context) (string, error) {
	if s.cfg.Simulator == nil {
		return "", errStatus(http.StatusNotFound, "not_found", "the simulator is off: maid is connected to Discord")
	}
	_, sv, err := s.serverParam(c)
	if err != nil {
		return "", err
	}
	return sv.ID, nil
}

// simRequest resolves a simulator action's server, then decodes its body
// into v (in that order: with the simulator off, a bad body is still 404).
func (s *Site) simRequest(c echo.Context, v any) (string, error) {
	sid, err := s.simServer(c)
	if err != nil {
		return "", err
	}
	if err := decodeBody(c, v); err != nil {
		return "", err
	}
	return sid, nil
}

// simDone answers a simulator action with its error or {"ok": true}.
func simDone(c echo.Context, err error) error {
	if err != nil {
		return engineError(err)
	}
	return c.JSON(http.StatusOK, map[string]bool{"ok": true})
}

func (s *Site) apiSimState(c echo.Context) error {
	sid, err := s.simServer(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	out := map[string]any{"messages": []SimMessage{}, "actions": []string{}}
	if ch := c.QueryParam("channel_id"); ch != "" {
		msgs, err := s.cfg.Simulator.Messages(ctx, sid, ch, 100)
		if err != nil {
			return engineError(err)
		}
		if msgs != nil {
			out["messages"] = msgs
		}
	}
	acts, err := s.cfg.Simulator.Actions(ctx, sid, 50)
	if err != nil {
		return engineError(err)
	}
	if acts != nil {
		out["actions"] = acts
	}
	members, err := s.cfg.Directory.Members(ctx, sid, 200)
	if err != nil {
		return engineError(err)
	}
	if members == nil {
		members = []Member{}
	}
	out["members"] = members
	cmds, err := s.cfg.Simulator.Commands(ctx, sid)
	if err != nil {
		return engineError(err)
	}
	if cmds == nil {
		cmds = []engine.SimCommand{}
	}
	out["commands"] = cmds
	return c.JSON(http.StatusOK, out)
}

// apiSimAct serves the simulator's member actions: POST
// /api/servers/{server}/simulator/{command,react,edit,delete}.
func (s *Site) apiSimAct(c echo.Context) error {
	var p struct {
		ChannelID string            `json:"channel_id"`
		MemberID  string            `json:"member_id"`
		MessageID string            `json:"message_id"`
		Name      string            `json:"name"`
		Options   map[string]string `json:"options"`
		Emoji     string            `json:"emoji"`
		Remove    bool              `json:"remove"`
		Content   string            `json:"content"`
	}
	sid, err := s.simRequest(c, &p)
	if err != nil {
		return err
	}
	if p.ChannelID == "" || p.MemberID == "" {
		return errStatus(http.StatusBadRequest, "invalid", "channel_id and member_id are required")
	}
	ctx, sim := c.Request().Context(), s.cfg.Simulator
	switch c.Param("act") {
	case "command":
		if len(p.Options) > 25 {
			return errStatus(http.StatusBadRequest, "invalid", "options: at most 25")
		}
		err = sim.RunCommand(ctx, sid, p.ChannelID, p.MemberID, p.Name, p.Options)
	case "react":
		err = sim.React(ctx, sid, p.ChannelID, p.MessageID, p.MemberID, p.Emoji, !p.Remove)
	case "edit":
		err = sim.EditAs(ctx, sid, p.ChannelID, p.MessageID, p.MemberID, p.Content)
	case "delete":
		err = sim.DeleteAs(ctx, sid, p.ChannelID, p.MessageID, p.MemberID)
	default:
		return errStatus(http.StatusNotFound, "not_found", "no such simulator action")
	}
	return simDone(c, err)
}

func (s *Site) apiSimPost(c echo.Context) error {
	var p struct {
		ChannelID string `json:"channel_id"`
		MemberID  string `json:"member_id"`
		Content   string `json:"content"`
	}
	sid, err := s.simRequest(c, &p)
	if err != nil {
		return err
	}
	if p.ChannelID == "" || p.MemberID == "" || strings.TrimSpace(p.Content) == "" {
		return errStatus(http.StatusBadRequest, "invalid", "channel_id, member_id and content are required")
	}
	return simDone(c, s.cfg.Simulator.Post(c.Request().Context(), sid, p.ChannelID, p.MemberID, p.Content))
}

func (s *Site) apiSimJoin(c echo.Context) error {
	var p struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	sid, err := s.simRequest(c, &p)
	if err != nil {
		return err
	}
	p.Name = strings.TrimSpace(p.Name)
	if p.Name == "" {
		return errStatus(http.StatusBadRequest, "invalid", "name is required")
	}
	if p.ID == "" {
		p.ID = randomSnowflake()
	}
	m := Member{ID: p.ID, Name: p.Name}
	if err := s.cfg.Simulator.Join(c.Request().Context(), sid, m); err != nil {
		return engineError(err)
	}
	return c.JSON(http.StatusOK, map[string]any{"ok": true, "member": m})
}

func (s *Site) apiSimLeave(c echo.Context) error {
	var p struct {
		MemberID string `json:"member_id"`
	}
	sid, err := s.simRequest(c, &p)
	if err != nil {
		return err
	}
	if p.MemberID == "" {
		return errStatus(http.StatusBadRequest, "invalid", "member_id is required")
	}
	return simDone(c, s.cfg.Simulator.Leave(c.Request().Context(), sid, p.MemberID))
}

func decodeBody(c echo.Context, v any) error {
	raw, err := readParams(c)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return errStatus(http.StatusBadRequest, "invalid", "decode body: "+err.Error())
	}
	return nil
}

// randomSnowflake returns a random 18-digit id shaped like Discord's.
func randomSnowflake() string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		panic("dashboard: crypto/rand: " + err.Error())
	}
	b[0] = '1' + b[0]%9
	for i := 1; i < len(b); i++ {
		b[i] = '0' + b[i]%10
	}
	return string(b)
}
