package discord_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/maidhq/maid/discord"
	"github.com/maidhq/maid/discord/fakediscord"
	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/plugin"
)

// legacyHost is the engine with packages changed or added in Plugins():
// plugins installed before Engine.Install's command rules, which the
// engine now refuses to install.
type legacyHost struct {
	*engine.Engine
	edit func([]*plugin.Package) []*plugin.Package
}

func (h legacyHost) Plugins() []*plugin.Package { return h.edit(h.Engine.Plugins()) }

// TestSharedCommandNameRoutesToEnabledPlugin guards slash command routing
// when two installed plugins declare one name (attack Q1): Engine.Install
// refuses that now (TestInstallCommandRules in engine), but plugins
// installed before may share it. Before, the name belonged on every
// server to the plugin whose id sorted first, so "a-squat", enabled only
// on guild2, answered /ping on guild1 in the place of "one". Now each
// server's /ping goes to the declarer enabled there.
func TestSharedCommandNameRoutesToEnabledPlugin(t *testing.T) {
	env := startGatewayHost(t, discord.GatewayConfig{}, func(_ *fakediscord.Server, eng *engine.Engine) {
		install(t, eng, "one", allCaps, guild1)
		install(t, eng, "a-squat", onlyKV, guild2) // declares no command: installed after "one"
	}, func(eng *engine.Engine) discord.Host {
		return legacyHost{Engine: eng, edit: func(pkgs []*plugin.Package) []*plugin.Package {
			for i, p := range pkgs {
				if p.Manifest.ID == "a-squat" { // as if installed before the rule
					m := *p.Manifest
					m.Commands = []plugin.Command{{Name: "ping", Description: "Answer pong"}}
					cp := *p
					cp.Manifest = &m
					pkgs[i] = &cp
				}
			}
			return pkgs
		}}
	})
	f := env.fake
	eventually(t, "commands registered", func() bool { return len(requests(f, "PUT", "/applications/"+f.AppID+"/commands")) > 0 })
	for _, tc := range []struct {
		name, guild, user, want string
	}{
		{name: "server of the plugin sorting second", guild: guild1, user: user1, want: "pong from " + guild1 + " by " + user1},
		{name: "server of the plugin sorting first", guild: guild2, user: user2, want: "pong from " + guild2 + " by " + user2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := chan1
			if tc.guild == guild2 {
				ch = chan2
			}
			id := f.Interaction(tc.guild, ch, tc.user, "ping")
			cb := "/interactions/" + id + "/token-" + id + "/callback"
			eventually(t, "interaction answered", func() bool { return len(requests(f, "POST", cb)) > 0 })
			if body := string(requests(f, "POST", cb)[0].Body); !strings.Contains(body, tc.want) {
				t.Errorf("/ping on %s answered %s; want %q from the plugin enabled there", tc.guild, body, tc.want)
			}
		})
	}
}

// TestSyncCommandsWithinDiscordsLimit guards the registration of slash
// commands (attack Q1): Discord refuses a bulk overwrite of more than 100
// global commands whole, so five plugins of 25 made every plugin's
// commands fail to register. Engine.Install now keeps within the limit
// (TestInstallCommandRules in engine); plugins installed before may not,
// and then the first 100 by plugin id are registered rather than none.
func TestSyncCommandsWithinDiscordsLimit(t *testing.T) {
	var fill []*plugin.Package
	var want []string
	for p := range 5 {
		m := &plugin.Manifest{ID: fmt.Sprintf("a-fill%d", p), Name: "Fill", Version: "1.0.0"}
		for c := range 25 {
			name := fmt.Sprintf("c%d-%d", p, c)
			m.Commands = append(m.Commands, plugin.Command{Name: name, Description: "x"})
			want = append(want, name)
		}
		fill = append(fill, &plugin.Package{Manifest: m})
	}
	want = want[:engine.MaxGlobalCommands]
	env := startGatewayHost(t, discord.GatewayConfig{}, func(_ *fakediscord.Server, eng *engine.Engine) {
		install(t, eng, "one", allCaps, guild1)
	}, func(eng *engine.Engine) discord.Host {
		return legacyHost{Engine: eng, edit: func(pkgs []*plugin.Package) []*plugin.Package { return append(pkgs, fill...) }}
	})
	f := env.fake
	eventually(t, "commands registered", func() bool {
		reqs := requests(f, "PUT", "/applications/"+f.AppID+"/commands")
		return len(reqs) > 0 && reqs[0].Status != 0 // answered
	})
	reg := requests(f, "PUT", "/applications/"+f.AppID+"/commands")[0]
	var cmds []struct{ Name string }
	if err := json.Unmarshal(reg.Body, &cmds); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cmds {
		got = append(got, c.Name)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("registered %d commands %v; want the first %d by plugin id", len(got), got, len(want))
	}
	if reg.Status/100 != 2 {
		t.Errorf("the registration failed: %d", reg.Status)
	}
}
