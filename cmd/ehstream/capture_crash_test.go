package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/ehstream/ehstream/capture"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/internal/azuritetest"
	"github.com/ehstream/ehstream/internal/localhub"
	"github.com/parquet-go/parquet-go"
)

const (
	crashPartitions = 4
	crashEvents     = 50_000 // in all
	crashKills      = 5
)

// crashRow is the columns of a Parquet file the crash test checks.
type crashRow struct {
	PartitionID    string `parquet:"partition_id"`
	SequenceNumber int64  `parquet:"sequence_number"`
	Body           []byte `parquet:"body"`
}

// fileStore is where a crash test's job writes: its --sink, and how the
// test reads a visible file and finds what is left unfinished.
type fileStore struct {
	spec     string
	read     func(path string) ([]byte, error)
	leftover func() []string // unfinished files (_tmp's, the spool's)
	env      []string        // the job's, besides the test's
}

// kill -9 of `ehstream stream --sink file:DIR` (and blob:) five times
// while a producer writes 50,000 events, then a clean stop: the visible
// files hold each event once, no unfinished file is left, and the
// partitions' files end where the partitions do.
func TestStreamFilesSurviveKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("the capture crash test runs the job as a child process for a while")
	}
	t.Run("dir", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		crashTest(t, fileStore{spec: "file:" + root,
			read:     func(p string) ([]byte, error) { return os.ReadFile(filepath.Join(root, p)) },
			leftover: func() []string { return filesUnder(root, "/_tmp/") }})
	})
	t.Run("blob", func(t *testing.T) {
		t.Parallel()
		var azurite azuritetest.Run
		t.Cleanup(azurite.Stop)
		cs := azurite.ConnStr(t) // skips without Azurite, fails under CI=true
		name, cc := azuritetest.NewContainer(t, cs)
		spool := t.TempDir()
		crashTest(t, fileStore{spec: "blob:" + cs + "/" + name, read: blobReader(cc),
			env:      []string{"TMPDIR=" + spool}, // the spool: BlobOptions.SpoolDir's default
			leftover: func() []string { return filesUnder(spool, "ehstream-") }})
	})
}

func crashTest(t *testing.T, store fileStore) {
	ctx, cancel := context.WithTimeout(context.Background(), 110*time.Second)
	defer cancel()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	cs := startInProcess(t, emulator.HubConfig{Name: "capture", PartitionCount: crashPartitions}).ConnectionString("capture")
	produced := make(chan error, 1)
	go func() { produced <- produceSlowly(ctx, cs) }()
	args := []string{"stream", "--connection-string", cs, "--sink", store.spec, "--batch-interval", "100ms",
		"--max-rate-per-partition", "1500", "--roll-size", "48KiB", "--http", ""}
	for kill := range crashKills {
		job := startJob(t, bin, store.env, args...)
		job.waitFor(ctx, t, "capture: finished a file") // mid-stream: files finished, others open
		job.cmd.Process.Signal(syscall.SIGKILL)
		job.cmd.Wait()
		t.Logf("kill -9 #%d, after %d files finished in that run", kill+1, strings.Count(job.out.String(), "capture: finished a file"))
	}
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	final := startJob(t, bin, store.env, append(args, "--until-idle")...)
	if err := final.cmd.Wait(); err != nil {
		t.Fatalf("the final run: %v\n%s", err, final.output())
	}
	if left := store.leftover(); len(left) > 0 {
		t.Fatalf("unfinished files left after the clean stop: %q", left)
	}
	checkCrashFiles(ctx, t, cs, store)
}

// produceSlowly sends the events in rounds, a body "P-I" for event I of
// partition P, so that the job is killed while they arrive.
func produceSlowly(ctx context.Context, cs string) error {
	const rounds, perRound = 25, crashEvents / crashPartitions / 25
	for r := range rounds {
		body := func(part, i int) []byte { return fmt.Appendf(nil, "%d-%d", part, r*perRound+i) }
		if err := localhub.Fill(ctx, cs, crashPartitions, perRound, &localhub.FillOptions{Body: body}); err != nil {
			return err
		}
		select { // pacing the producer, not synchronising
		case <-time.After(150 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// checkCrashFiles: no gap or overlap, every partition's files end at its
// end, and reading the files back gives each event once, in order.
func checkCrashFiles(ctx context.Context, t *testing.T, cs string, store fileStore) {
	t.Helper()
	dest, err := capture.OpenDestination(ctx, store.spec, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	hubs, err := capture.CheckAllFiles(ctx, dest)
	if err != nil || len(hubs) != 1 || len(hubs[0].Partitions) != crashPartitions || len(hubs[0].Strays) > 0 {
		t.Fatalf("CheckAllFiles = %+v, %v; want one hub of %d partitions", hubs, err, crashPartitions)
	}
	hp, err := eventhubs.DescribeHub(ctx, eventhubs.NewConf(cs))
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	for i, p := range hubs[0].Partitions {
		from, until := p.Ends()
		if len(p.Gaps) > 0 || len(p.Overlaps) > 0 || from != 0 || until != hp.Partitions[i].End || hp.Partitions[i].PartitionID != p.PartitionID {
			t.Fatalf("partition %s: files [%d, %d), gaps %v, overlaps %v; want [0, %d) with none", p.PartitionID, from, until, p.Gaps, p.Overlaps, hp.Partitions[i].End)
		}
		next := int64(0)
		for _, f := range p.Files {
			next = checkCrashFile(t, store, f, next)
		}
		files += len(p.Files)
	}
	t.Logf("%d files hold the %d events once each", files, crashEvents)
}

// checkCrashFile reads one file: its rows are next, next+1, ... to its
// name's end, the bodies those the producer sent.
func checkCrashFile(t *testing.T, store fileStore, f capture.FileName, next int64) int64 {
	t.Helper()
	for _, r := range readCrashRows(t, store, f) {
		if r.SequenceNumber != next || r.PartitionID != f.PartitionID || string(r.Body) != fmt.Sprintf("%s-%d", f.PartitionID, next) {
			t.Fatalf("%s: row %+v, want sequence number %d of partition %s: a duplicate or a gap", f.Path(), r, next, f.PartitionID)
		}
		next++
	}
	if next != f.Until {
		t.Fatalf("%s ends at %d, its name says %d", f.Path(), next, f.Until)
	}
	return next
}

// readCrashRows reads the rows of one Parquet file of store.
func readCrashRows(t *testing.T, store fileStore, f capture.FileName) []crashRow {
	t.Helper()
	b, err := store.read(f.Path())
	if err != nil {
		t.Fatal(err)
	}
	rows, err := parquet.Read[crashRow](bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("%s: %v", f.Path(), err)
	}
	return rows
}

// jobProcess is `ehstream stream` as a child process.
type jobProcess struct {
	cmd *exec.Cmd
	out lockedBuffer // stdout and stderr
}

func startJob(t *testing.T, bin string, env []string, args ...string) *jobProcess {
	t.Helper()
	j := &jobProcess{cmd: exec.Command(bin, args...)}
	j.cmd.Env = append(os.Environ(), env...)
	j.cmd.Stdout, j.cmd.Stderr = &j.out, &j.out
	if err := j.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.cmd.Process.Kill(); j.cmd.Wait() })
	return j
}

// waitFor polls the job's output until it says s, within ctx.
func (j *jobProcess) waitFor(ctx context.Context, t *testing.T, s string) {
	t.Helper()
	for !strings.Contains(j.out.String(), s) {
		select {
		case <-ctx.Done():
			t.Fatalf("the job never said %q:\n%s", s, j.output())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (j *jobProcess) output() string { return tail(j.out.String(), 3000) }

// filesUnder lists the files under root whose path contains part.
func filesUnder(root, part string) []string {
	var found []string
	filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.Contains(p, part) {
			found = append(found, p)
		}
		return nil
	})
	return found
}

func blobReader(cc *container.Client) func(p string) ([]byte, error) {
	return func(p string) ([]byte, error) {
		resp, err := cc.NewBlobClient(p).DownloadStream(context.Background(), nil)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		return io.ReadAll(resp.Body)
	}
}
