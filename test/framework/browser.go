package framework

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

// Browser returns a chromedp context driving a fresh headless Chromium
// (Debian's chromium; `make test-deps` installs it) until the test ends.
// Each call gets its own profile, so tests do not share cookies.
func Browser(t TB) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed: run `make test-deps`: %v", err)
	}
	// Chromium keeps its singleton socket in a new directory under
	// TMPDIR and leaves it behind: a short directory of the test's own
	// keeps the socket's path within the limit and goes with the test.
	tmp, err := os.MkdirTemp("", "bindery-chromium-")
	if err != nil {
		t.Fatalf("creating chromium's temporary directory: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(tmp) })
	// Chromium now and then exits as it starts on this machine, before it
	// listens (chromedp: "chrome failed to start"), its output only the
	// usual dbus noise: one more start is tried, and the first logged.
	ctx, err := startBrowser(t, path, tmp)
	if err != nil {
		t.Logf("starting chromium: %v; trying once more", err)
		ctx, err = startBrowser(t, path, tmp)
	}
	if err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// startBrowser starts Chromium with a fresh profile, stopped when the
// test ends.
func startBrowser(t TB, path, tmp string) (context.Context, error) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Env("TMPDIR="+tmp),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// Start the browser now, on the context without a timeout (a timeout
	// on the first call would stop the browser), so that a broken install
	// fails here.
	return ctx, chromedp.Do(ctx)
}

// LoginInBrowser opens url (a backend's /authorize link) in the browser
// and logs in at the npm oidc-provider as user, consenting when asked; the
// backend's next page follows. A failing step fails the test with the page
// it was on.
func LoginInBrowser(t TB, browserCtx context.Context, url, user string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(browserCtx, 2*time.Minute)
	defer cancel()
	BrowserStep(t, ctx, "login page", chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS(`input[name="login"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="login"]`), user),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "secret"),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)))
	BrowserStep(t, ctx, "consent page", chromedp.WaitNotPresent(chromedp.CSS(`input[name="login"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[type="submit"]`)),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)))
}

// Click clicks the element sel once the page holding it has settled: a
// page that is still being replaced (the last redirect of a login) can
// drop the node between finding it and clicking it, which Chrome reports
// as "Could not find node with given id"; the click is then tried again
// on the new page, up to three times.
func Click(t TB, ctx context.Context, name, sel string) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
		if err == nil {
			return
		}
		if attempt == 3 || !strings.Contains(err.Error(), "Could not find node") {
			failStep(t, ctx, name, err)
			return
		}
	}
}

// BrowserStep runs actions in the browser; when they fail, it fails the
// test with the page's address and HTML.
func BrowserStep(t TB, ctx context.Context, name string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		failStep(t, ctx, name, err)
	}
}

// failStep fails the test with a step's error and the page's address and
// HTML.
func failStep(t TB, ctx context.Context, name string, err error) {
	t.Helper()
	// The step's context may be what ran out; look with a fresh one.
	diag, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	at, _ := chromedp.Run(diag, chromedp.Location())
	html, _ := chromedp.Run(diag, chromedp.OuterHTML(chromedp.CSS("html")))
	t.Fatalf("%s: %v\nat %s:\n%s", name, err, at, html)
}
