package deploy

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// TestImageStreamsOntoVolume runs the image as a user would: `ehstream
// stream --until-idle` with a volume on /data, where the embedded local
// Event Hubs keeps its data and the SQLite sink its file; the table on
// the volume must then hold the 5,000 sample events once each. It also
// checks what the image is: a non-root user, ehstream as entrypoint.
func TestImageStreamsOntoVolume(t *testing.T) {
	img := image(t)
	t.Logf("podman.sh build-image (go build and podman build) took %v", testImage.took.Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	checkImageConfig(t, ctx, img)

	data := t.TempDir()
	// The image's user, uid 65532, writes the volume.
	if err := os.Chown(data, 65532, 65532); err != nil {
		if err := os.Chmod(data, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	name := unique("ehstream-stream")
	t.Cleanup(func() { podmanErr(context.Background(), "", "rm", "--force", "--ignore", name) })
	started := time.Now()
	out := podman(t, ctx, "", "run", "--rm", "--name", name, "--volume", data+":/data", img, "stream", "--until-idle")
	t.Logf("podman run ... stream --until-idle took %v:\n%s", time.Since(started).Round(time.Millisecond), out)
	if !strings.Contains(out, "wrote 5000 events") {
		t.Errorf("the stream did not say it wrote the 5000 sample events")
	}
	if _, err := os.Stat(filepath.Join(data, "ehstream-data")); err != nil {
		t.Errorf("the local Event Hubs kept no data on the volume: %v", err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "ehstream.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows, distinct, partitions int
	err = db.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT partition_id || '/' || sequence_number), count(DISTINCT partition_id) FROM events`).
		Scan(&rows, &distinct, &partitions)
	if err != nil {
		t.Fatal(err)
	}
	if rows != 5000 || distinct != 5000 || partitions != 4 {
		t.Errorf("the table on the volume holds %d rows, %d distinct events, of %d partitions; want 5000, 5000, 4", rows, distinct, partitions)
	}
	if left := podman(t, ctx, "", "ps", "--all", "--quiet", "--filter", "name="+name); left != "" {
		t.Errorf("podman run --rm left the container %s", left)
	}
}

// checkImageConfig checks the image's user, entrypoint and size, and that
// its binary runs.
func checkImageConfig(t *testing.T, ctx context.Context, img string) {
	t.Helper()
	out := podman(t, ctx, "", "image", "inspect", "--format", "{{.Config.User}}|{{.Config.Entrypoint}}|{{.Config.WorkingDir}}|{{.Size}}", img)
	f := strings.Split(strings.TrimSpace(out), "|")
	if len(f) != 4 {
		t.Fatalf("podman image inspect printed %q", out)
	}
	user, entrypoint, workdir := f[0], f[1], f[2]
	size, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image %s: %.1f MB, user %s, entrypoint %s", img, float64(size)/1e6, user, entrypoint)
	if user != "65532:65532" || entrypoint != "[/usr/local/bin/ehstream]" || workdir != "/data" {
		t.Errorf("image user %q, entrypoint %s, working directory %q; want 65532:65532, [/usr/local/bin/ehstream], /data", user, entrypoint, workdir)
	}
	if size > 40e6 {
		t.Errorf("the image is %d bytes; a static binary on scratch should be near 22 MB", size)
	}
	if out := podman(t, ctx, "", "run", "--rm", img, "version"); !strings.HasPrefix(out, "ehstream ") {
		t.Errorf("ehstream version in the image printed %q", out)
	}
}
