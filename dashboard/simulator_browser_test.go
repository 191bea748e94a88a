package dashboard_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestSimulatorInBrowser: in Chromium, the simulator keeps the chosen
// "post as" member across reloads; runs a plugin's slash command with its
// options (the answer in the channel, the plugin's message in another
// channel in the actions list); and a member's reaction, edit and delete
// reach the plugin as events.
func TestSimulatorInBrowser(t *testing.T) {
	env, p, consoleErrors := browserEnv(t, newEnvNoApprovals)
	env.installEnabled("testdata/simcmd")
	p.signInAdmin(env)
	p.open("/s/" + serverA + "/simulator")
	p.waitJS(`document.querySelector('#sim-member').options.length > 0 && document.querySelector('#sim-command').options.length > 0`)
	const carol = "100000000000000303"
	p.do(chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector('#sim-member'); s.value = '` + carol + `'; s.dispatchEvent(new Event('change')); })()`))
	p.do(chromedp.Reload())
	p.waitJS(`document.querySelector('#sim-member').value === '` + carol + `'`)

	// A slash command with options.
	p.waitJS(`Array.from(document.querySelector('#sim-command').options).some(o => o.value === 'echo')`)
	p.do(chromedp.Evaluate[chromedp.Void](`(() => {
		const s = document.querySelector('#sim-command'); s.value = 'echo'; s.dispatchEvent(new Event('change'));
		document.querySelector('#sim-command-options [data-option="text"]').value = 'hi there';
		document.querySelector('#sim-command-options [data-option="times"]').value = '2';
		document.querySelector('#sim-run-command').click();
	})()`))
	p.waitJS(`document.querySelector('#sim-chat').innerText.includes('hi there x2')`)
	p.waitJS(`document.querySelector('#sim-actions').innerText.includes('Maid sent a message in #welcome: echoed in #welcome: hi there')`)

	// A member's message, reaction, edit and delete.
	p.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#sim-content').value = 'carol says hi'`))
	p.do(chromedp.Click(chromedp.CSS(`#sim-post button[type=submit]`)))
	p.waitJS(`Array.from(document.querySelectorAll('#sim-chat .msg')).some(m => m.innerText.includes('carol says hi'))`)
	mine := `Array.from(document.querySelectorAll('#sim-chat .msg')).find(m => m.querySelector('.content') && m.querySelector('.content').textContent === 'carol says hi')`
	p.do(chromedp.Evaluate[chromedp.Void](`(` + mine + `).querySelector('[data-react="👍"]').click()`))
	p.waitJS(`(() => { const m = ` + mine + `; return m && m.querySelector('.reactions') && m.querySelector('.reactions').innerText.includes('👍 1'); })()`)
	waitKV := func(key, want string) {
		t.Helper()
		for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			if v, found := env.kvGet("simcmd", serverA, key); found && strings.Contains(string(v), want) {
				return
			}
		}
		v, _ := env.kvGet("simcmd", serverA, key)
		t.Fatalf("the plugin did not get the event: %s = %s, want %s", key, v, want)
	}
	waitKV("last_reaction", carol)
	p.shot("simulator")
	p.do(chromedp.Evaluate[chromedp.Void](`(` + mine + `).querySelector('[data-edit]').click()`))
	p.waitJS(`document.querySelector('#sim-chat .edit-form input') !== null`)
	p.do(chromedp.Evaluate[chromedp.Void](`(() => { const f = document.querySelector('#sim-chat .edit-form'); f.querySelector('input').value = 'carol edited this'; f.requestSubmit(); })()`))
	p.waitJS(`document.querySelector('#sim-chat').innerText.includes('carol edited this') && document.querySelector('#sim-chat').innerText.includes('(edited)')`)
	waitKV("last_edit", "carol edited this")
	edited := `Array.from(document.querySelectorAll('#sim-chat .msg')).find(m => m.querySelector('.content') && m.querySelector('.content').textContent === 'carol edited this')`
	id := eval[string](p, `(`+edited+`).dataset.id`)
	p.do(chromedp.Evaluate[chromedp.Void](`(` + edited + `).querySelector('[data-del]').click()`))
	p.waitJS(`document.querySelector('.maid-modal .maid-btn-danger-solid') !== null`)
	p.do(chromedp.Click(chromedp.CSS(`.maid-modal .maid-btn-danger-solid`)))
	p.waitJS(`!document.querySelector('#sim-chat').innerText.includes('carol edited this')`)
	waitKV("last_delete", id)
	noConsoleErrors(t, consoleErrors)
}
