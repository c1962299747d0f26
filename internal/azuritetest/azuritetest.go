// Package azuritetest runs Azurite, the Azure Storage emulator, in memory
// for a package's tests: the blob ownership store's and the capture
// sink's. Tests only.
package azuritetest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// Run is one Azurite, started once, on a package's first test that needs
// it; the package's TestMain stops it.
type Run struct {
	once     sync.Once
	cmd      *exec.Cmd
	endpoint string // http(s)://127.0.0.1:PORT
	err      error
}

// DevAccountKey is Azurite's well-known development account key.
const DevAccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

// ConnStr is the connection string of the run's Azurite, started in
// memory on first use. Without node or `npm ci` in
// ownership/testdata/azurite the test is skipped, or fails when
// EHSTREAM_TEST_AZURITE is set or CI=true.
func (a *Run) ConnStr(t testing.TB) string {
	t.Helper()
	endpoint := a.Start(t)
	return "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + DevAccountKey +
		";BlobEndpoint=" + endpoint + "/devstoreaccount1;"
}

// Start starts the run's Azurite once, with extra arguments, and returns
// where it listens.
func (a *Run) Start(t testing.TB, extra ...string) string {
	t.Helper()
	dir := npmDir()
	bin := filepath.Join(dir, "node_modules", ".bin", "azurite-blob")
	node, err := exec.LookPath("node")
	_, binErr := os.Stat(bin)
	if err != nil || binErr != nil {
		if os.Getenv("EHSTREAM_TEST_AZURITE") != "" || os.Getenv("CI") == "true" {
			t.Fatalf("EHSTREAM_TEST_AZURITE is set or CI=true, but node (%v) or azurite (%v) is missing: run npm ci in ownership/testdata/azurite", err, binErr)
		}
		t.Skip("needs node and `npm ci` in ownership/testdata/azurite (bash .ci/run does both)")
	}
	a.once.Do(func() { a.endpoint, a.err = a.run(node, bin, extra...) })
	if a.err != nil {
		t.Fatalf("starting azurite: %v", a.err)
	}
	return a.endpoint
}

var listening = regexp.MustCompile(`successfully listens on (https?://127\.0\.0\.1:\d+)`)

// run runs Azurite's blob service in memory on a free loopback port
// (--blobPort 0) and waits until it says where it listens.
func (a *Run) run(node, bin string, extra ...string) (string, error) {
	work, err := os.MkdirTemp("", "azurite")
	if err != nil {
		return "", err
	}
	args := append([]string{bin, "--inMemoryPersistence", "--extentMemoryLimit", "64", "--blobHost", "127.0.0.1", "--blobPort", "0",
		"--disableTelemetry", "--skipApiVersionCheck", "--loose", "--silent"}, extra...)
	cmd := exec.Command(node, args...)
	cmd.Dir = work // in memory: nothing is written there but what extra names
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return "", err
	}
	a.cmd = cmd
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		io.Copy(io.Discard, out)
		close(found)
	}()
	select {
	case endpoint, ok := <-found:
		if !ok {
			cmd.Wait()
			return "", fmt.Errorf("azurite exited before listening: %s", stderr.String())
		}
		return endpoint, nil
	case <-time.After(60 * time.Second):
		return "", fmt.Errorf("azurite did not say it listens within 60s: %s", stderr.String())
	}
}

// Stop stops the run's Azurite, if it started; call it from TestMain.
func (a *Run) Stop() {
	if a.cmd != nil && a.cmd.Process != nil {
		a.cmd.Process.Kill()
		a.cmd.Wait()
		if dir := a.cmd.Dir; strings.Contains(dir, "azurite") {
			os.RemoveAll(dir)
		}
	}
}

// npmDir is where `npm ci` installs Azurite: ownership/testdata/azurite,
// found from this file's place in the module, whichever package's test
// runs.
func npmDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "ownership", "testdata", "azurite")
}

// NewContainer is a container name no other test uses, and its client on
// the account connStr names; the container is deleted after the test.
func NewContainer(t testing.TB, connStr string) (string, *container.Client) {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	name := "t-" + hex.EncodeToString(b)
	cc, err := container.NewClientFromConnectionString(connStr, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Delete(context.Background(), nil) })
	return name, cc
}
