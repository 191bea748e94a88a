package engine_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/engine/enginetest"
	"github.com/maidhq/maid/internal/plugintest"
	"github.com/maidhq/maid/plugin"
	"github.com/maidhq/maid/store"
)

// TestMarketSignerBinding: a plugin id keeps the key that first signed
// it. Another key (trusted or not) or no signature cannot publish its
// next version under any --unsigned policy; an admin's NewSigner can,
// audited, and the binding then follows the new key.
func TestMarketSignerBinding(t *testing.T) {
	apriv, apub, err := plugin.GenerateKey("acme")
	if err != nil {
		t.Fatal(err)
	}
	mpriv, mpub, err := plugin.GenerateKey("mallory")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := plugin.ParsePublicKeys(append(append(apub, '\n'), mpub...))
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys: %v (%d)", err, len(keys))
	}
	upriv, _, err := plugin.GenerateKey("stranger") // not in the keyring
	if err != nil {
		t.Fatal(err)
	}
	ctx := engine.WithActor(withTimeout(t, 5*time.Minute), "admin")
	be := processBackend(t)
	for _, pol := range []plugin.UnsignedPolicy{plugin.UnsignedAllow, plugin.UnsignedWarn, plugin.UnsignedRefuse} {
		t.Run(string(pol), func(t *testing.T) {
			dir := t.TempDir()
			st, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "maid.db"), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			eng, err := engine.New(engine.Config{Store: st, Backend: be, DataDir: dir, TrustedKeys: plugin.NewKeyring(keys...), Unsigned: pol})
			if err != nil {
				t.Fatal(err)
			}
			defer enginetest.Serve(t, eng)()
			publish := func(archive []byte, opt engine.PublishOptions) (engine.PublishResult, error) {
				return eng.Publish(ctx, archive, opt)
			}
			if _, err := publish(plugintest.Sign(t, versioned("1.0.0", "number"), apriv), engine.PublishOptions{}); err != nil {
				t.Fatalf("v1 by acme: %v", err)
			}
			refused := []struct {
				name    string
				archive []byte
			}{
				{"another trusted key", plugintest.Sign(t, versioned("2.0.0", "number"), mpriv)},
				{"an untrusted key", plugintest.Sign(t, versioned("2.0.0", "number"), upriv)},
				{"unsigned", plugintest.Pack(t, versioned("2.0.0", "number"))},
			}
			for _, tc := range refused {
				_, err := publish(tc.archive, engine.PublishOptions{Force: true})
				// Under refuse the policy itself refuses the last two.
				named := pol != plugin.UnsignedRefuse || tc.name == "another trusted key"
				if !errors.Is(err, plugin.ErrSignature) || named && !strings.Contains(err.Error(), "keeps the key that first signed it") {
					t.Errorf("%s: %v, want a refusal naming the binding", tc.name, err)
				}
			}
			if p, _ := eng.Plugin("vp"); p == nil || p.Manifest.Version != "1.0.0" {
				t.Fatalf("after refusals the latest is %+v, want 1.0.0", p)
			}
			if _, err := publish(plugintest.Sign(t, versioned("2.0.0", "number"), apriv), engine.PublishOptions{}); err != nil {
				t.Fatalf("v2 by acme: %v", err)
			}
			// An admin moves the plugin to mallory's key: audited.
			res, err := publish(plugintest.Sign(t, versioned("3.0.0", "number"), mpriv), engine.PublishOptions{NewSigner: true})
			if err != nil || !strings.Contains(res.SignerChanged, "->") {
				t.Fatalf("forced new signer: %+v, %v", res, err)
			}
			entries, err := eng.Audit(ctx, engine.AuditQuery{All: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) == 0 || !strings.Contains(entries[0].Detail, "signer changed (forced)") {
				t.Fatalf("audit: %+v, want the forced signer change", entries)
			}
			// The binding follows: acme no longer publishes it.
			if _, err := publish(plugintest.Sign(t, versioned("4.0.0", "number"), apriv), engine.PublishOptions{}); !errors.Is(err, plugin.ErrSignature) {
				t.Fatalf("acme after the change: %v, want ErrSignature", err)
			}
		})
	}
}
