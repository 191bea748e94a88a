package dashboard

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

var nonceInputRe = regexp.MustCompile(`<input type="hidden" name="nonce" value="([^"]*)">`)

// OpenSignInLink does with a one-time admin link what a browser does:
// opens its page, then presses its button (a POST with the link's token and
// the page's sign-in nonce). c must keep cookies (a Jar); it then holds the
// session. The answer is the button's, after c's redirects; the caller
// closes its body. For programs that drive the dashboard (maid bench,
// tests), so the form's shape is known in one place.
func OpenSignInLink(ctx context.Context, c *http.Client, link string) (*http.Response, error) {
	if c.Jar == nil {
		return nil, errors.New("open sign-in link: the client keeps no cookies")
	}
	u, err := url.Parse(link)
	if err != nil {
		return nil, fmt.Errorf("open sign-in link: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		return nil, fmt.Errorf("open sign-in link: %w", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("open sign-in link: %w", err)
	}
	page, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("open sign-in link: %w", err)
	}
	m := nonceInputRe.FindSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		return nil, fmt.Errorf("open sign-in link: %s without a sign-in button", resp.Status)
	}
	form := url.Values{"token": {u.Query().Get("token")}, "nonce": {html.UnescapeString(string(m[1]))}}
	post := *u
	post.RawQuery = ""
	if next := u.Query().Get("next"); next != "" {
		post.RawQuery = url.Values{"next": {next}}.Encode()
	}
	req, err = http.NewRequestWithContext(ctx, http.MethodPost, post.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("open sign-in link: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("open sign-in link: %w", err)
	}
	return resp, nil
}
