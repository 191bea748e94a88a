package dashboard_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// TestForgedBridgeMessage: a frame other than the plugin's iframe posts
// well-formed MaidSDK bridge calls to the dashboard page; the page ignores
// them (it answers only its plugin iframe's window). As a control, the same
// message posted from inside the plugin's iframe is served, so the format
// is right and only the source check stops the forgery.
// (reliability suite, docs/security.md)
func TestForgedBridgeMessage(t *testing.T) {
	env, p, _ := browserEnv(t, newEnv)
	p.signInDiscord(env, alice)
	p.open("/s/" + serverA + "/p/iframe_probe")
	// Once it has, the real iframe is up and its bridge works.
	if !env.probeRunsWithin(20 * time.Second) {
		t.Fatal("the probe iframe never reported")
	}
	if !eval[bool](p, `(() => { const f = document.createElement('iframe'); f.name = 'forger'; document.body.appendChild(f); return true })()`) {
		t.Fatal("could not add the forging frame")
	}
	post := func(key string) string {
		return fmt.Sprintf(`parent.postMessage({maid: "maid-sdk/1", type: "call", id: 4242, method: "kv.set", params: {key: %q, value: "forged"}}, "*"); true`, key)
	}
	frames := frameTree(t, p)
	var forger, plugin cdp.FrameID
	for _, f := range frames {
		switch {
		case f.Name == "forger":
			forger = f.ID
		case strings.Contains(f.URL, "/p/iframe_probe/assets/"):
			plugin = f.ID
		}
	}
	if forger == "" {
		t.Fatalf("forging frame not in the frame tree: %v", frames)
	}
	evalInFrame(t, p, forger, post("forged"))
	if plugin != "" {
		evalInFrame(t, p, plugin, post("control"))
		for end := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if _, found := env.kvGet("iframe_probe", serverA, "control"); found {
				break
			}
			if time.Now().After(end) {
				t.Fatal("control: the same message from the plugin's own iframe was not served")
			}
		}
	} else {
		// Out-of-process plugin frame: give the forged call the time the
		// control would have needed.
		t.Log("plugin iframe runs out of process; control skipped")
		time.Sleep(3 * time.Second)
	}
	if _, found := env.kvGet("iframe_probe", serverA, "forged"); found {
		t.Fatal("a bridge call posted by another frame was served")
	}
}

func frameTree(t *testing.T, p *page) []*cdp.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	tree, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) (*cdppage.FrameTree, error) {
		res, err := cdp.Call(ctx, tg, cdppage.GetFrameTree, cdp.Empty{})
		return res.FrameTree, err
	})
	if err != nil {
		t.Fatalf("frame tree: %v", err)
	}
	var out []*cdp.Frame
	var walk func(*cdppage.FrameTree)
	walk = func(n *cdppage.FrameTree) {
		if n == nil {
			return
		}
		out = append(out, n.Frame)
		for _, c := range n.ChildFrames {
			walk(c)
		}
	}
	walk(tree)
	return out
}

// evalInFrame runs JS in an isolated world of a frame: its window (and so
// a message's source) is that frame's, whatever the page's CSP says.
func evalInFrame(t *testing.T, p *page, frame cdp.FrameID, expr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		w, err := cdp.Call(ctx, tg, cdppage.CreateIsolatedWorld, cdppage.CreateIsolatedWorldParams{FrameID: frame, WorldName: "reliability"})
		if err != nil {
			return chromedp.Void{}, err
		}
		res, err := cdp.Call(ctx, tg, runtime.Evaluate, runtime.EvaluateParams{Expression: expr, ContextID: w.ExecutionContextID})
		if err == nil && res.ExceptionDetails != nil {
			err = fmt.Errorf("%s", res.ExceptionDetails.Text)
		}
		return chromedp.Void{}, err
	})
	if err != nil {
		t.Fatalf("evaluate in frame %s: %v", frame, err)
	}
}
