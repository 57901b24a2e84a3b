package bindflow_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindery-dev/bindery/test/framework"
)

// TestBrowserLogin clicks through the login and the selection page in a
// real headless Chromium, as a user does after kubectl bind opened it.
func TestBrowserLogin(t *testing.T) {
	t.Parallel()
	e := setup(t)
	cb := startCLI(t)
	browserCtx := framework.Browser(t)
	ctx, cancel := context.WithTimeout(browserCtx, 2*time.Minute)
	defer cancel()

	authorize := e.External + "/authorize?" + url.Values{"u": {cb.URL}, "s": {"browser"}, "c": {"cluster-b"}}.Encode()
	framework.LoginInBrowser(t, browserCtx, authorize, "alice")
	framework.BrowserStep(t, ctx, "selection page", chromedp.WaitVisible(chromedp.CSS(`#bind-postgres`)))
	heading, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`h1`)))
	require.NoError(t, err)
	description, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`section[aria-labelledby="svc-postgres"]`)))
	require.NoError(t, err)
	assert.Equal(t, "Choose a service to bind", heading)
	assert.Contains(t, description, "Managed PostgreSQL databases with daily backups.")
	assert.Contains(t, description, "databases.db.example.com")
	assert.Contains(t, description, "secrets referenced by .spec.writeConnectionSecretToRef.name, from the provider to your cluster")

	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#bind-postgres`))))
	select {
	case q := <-cb.queries:
		raw := q.Get("response")
		br := decodeResponse(t, raw)
		assert.Equal(t, "browser", br.Authentication.OAuth2CodeGrant.SessionID)
		assert.NotEmpty(t, br.Kubeconfig)
	case <-ctx.Done():
		t.Fatal("the CLI's callback never received the BindingResponse")
	}
}
