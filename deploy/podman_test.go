package deploy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// requirePodman skips the test without podman, or fails it when CI=true.
func requirePodman(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs a container image")
	}
	if _, err := exec.LookPath("podman"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("podman is not installed, and CI=true: .ci/run installs it (apt-get install podman runc)")
		}
		t.Skip("podman is not installed: skipping the image tests (apt-get install podman runc; bash .ci/run does)")
	}
}

// unique is name with a random suffix, for the names tests give podman's
// objects, which live beyond the test process.
func unique(name string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return name + "-t" + hex.EncodeToString(b)
}

// podman runs podman through podman.sh, with stdin, and returns its
// stdout; it fails the test when podman fails.
func podman(t *testing.T, ctx context.Context, stdin string, args ...string) string {
	t.Helper()
	out, err := podmanErr(ctx, stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func podmanErr(ctx context.Context, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "bash", append([]string{"podman.sh"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("podman %s: %v\n%s%s", strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.String(), nil
}

// testImage is the image the tests share, built once by podman.sh build-image
// and removed by TestMain.
var testImage = struct {
	once      sync.Once
	name, err string
	took      time.Duration
}{}

// image builds the test image on first use and returns its name.
func image(t *testing.T) string {
	t.Helper()
	requirePodman(t)
	testImage.once.Do(func() {
		name := "localhost/" + unique("ehstream") + ":test"
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		started := time.Now()
		if _, err := podmanErr(ctx, "", "build-image", name); err != nil {
			testImage.err = err.Error()
			return
		}
		testImage.name, testImage.took = name, time.Since(started)
	})
	if testImage.err != "" {
		t.Fatal(testImage.err)
	}
	return testImage.name
}

func TestMain(m *testing.M) {
	code := m.Run()
	if testImage.name != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if _, err := podmanErr(ctx, "", "rmi", "--force", testImage.name); err != nil {
			fmt.Fprintln(os.Stderr, "removing the test image:", err)
			code = 1
		}
		cancel()
	}
	os.Exit(code)
}
