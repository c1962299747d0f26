// Package browsertest starts headless Chromium for the tests of web pages,
// and collects what those pages show as errors in the console.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromiumNames are the browsers looked for on PATH when $EHSTREAM_CHROMIUM
// names none.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"}

// Start starts headless Chromium for the test, under parent, with a window
// of width × height and any extra options (such as chromedp.Flag), and
// opens a tab: the context returned runs in it. It
// skips the test when there is no Chromium, unless EHSTREAM_TEST_BROWSER=1
// (CI), which fails it instead. The errors the tab's pages print to the
// console or throw are collected in the Console returned. The browser
// closes when the test ends.
func Start(t testing.TB, parent context.Context, width, height int, extra ...chromedp.ExecAllocatorOption) (context.Context, *Console) {
	t.Helper()
	path := os.Getenv("EHSTREAM_CHROMIUM")
	for _, name := range chromiumNames {
		if path != "" {
			break
		}
		path, _ = exec.LookPath(name)
	}
	if path == "" {
		if os.Getenv("EHSTREAM_TEST_BROWSER") == "1" {
			t.Fatal("EHSTREAM_TEST_BROWSER=1 but no Chromium found (" + strings.Join(chromiumNames, ", ") + " or $EHSTREAM_CHROMIUM): apt-get install chromium")
		}
		t.Skip("no Chromium (" + strings.Join(chromiumNames, ", ") + " or $EHSTREAM_CHROMIUM): skipping the browser test (bash .ci/run installs it; EHSTREAM_TEST_BROWSER=1 makes this a failure)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], // headless
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // the tests run as root
		chromedp.DisableGPU,
		chromedp.WindowSize(width, height))
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(parent, opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(cancelTab)
	if err := chromedp.Do(ctx); err != nil { // starts the browser and opens the tab
		t.Fatalf("starting %s: %v", path, err)
	}
	c := &Console{}
	if err := chromedp.Listen(ctx, c.add); err != nil {
		t.Fatal(err)
	}
	return ctx, c
}

// Console holds what the pages' console shows as errors: console.error
// and assert calls, uncaught exceptions, failed loads.
type Console struct {
	mu   sync.Mutex
	msgs []string
}

func (c *Console) add(ev any) {
	var msg string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			msg = "console." + string(ev.Type) + ": " + strings.Join(args, " ")
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg = fmt.Sprintf("uncaught exception: %s at %s:%d", d.Text, d.URL, d.LineNumber)
		if d.Exception != nil {
			msg += ": " + d.Exception.Description
		}
	case *log.EventEntryAdded:
		if ev.Entry.Level == log.EntryLevelError {
			msg = fmt.Sprintf("log %s: %s (%s)", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
		}
	}
	if msg != "" {
		c.mu.Lock()
		c.msgs = append(c.msgs, msg)
		c.mu.Unlock()
	}
}

// Errors returns the errors collected so far. What a page logs reaches
// the Console asynchronously: evaluate something in the tab first to have
// everything it logged before.
func (c *Console) Errors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.msgs...)
}

// ScreenshotOnFailure saves the tab's page to a temporary file when the
// test has failed, and logs where; ctx is the tab's.
func ScreenshotOnFailure(t testing.TB, ctx context.Context) {
	if !t.Failed() {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Logf("no screenshot: %v", err)
		return
	}
	dir, err := os.MkdirTemp("", "ehstream-page-")
	if err == nil {
		file := filepath.Join(dir, "failure.png")
		if err = os.WriteFile(file, png, 0o644); err == nil {
			t.Logf("the page when the test failed: %s", file)
			return
		}
	}
	t.Logf("no screenshot: %v", err)
}
