package capture_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/capture"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/internal/localhub"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/ownership"
	"github.com/ehstream/ehstream/streaming"
	_ "modernc.org/sqlite"
)

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// startHub runs an emulator whose hub has partitions partitions, filled
// with n events each by the official SDK, and returns its connection
// string.
func startHub(t *testing.T, hub string, partitions, n int) string {
	t.Helper()
	h, err := localhub.Start(testCtx(t, 30*time.Second), &localhub.Config{Hub: hub, Partitions: partitions})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		eventhubs.CloseAll(context.Background())
		h.Close()
	})
	cs := h.ConnectionString()
	fill(t, cs, partitions, n)
	return cs
}

func fill(t *testing.T, cs string, partitions, n int) {
	t.Helper()
	if err := localhub.Fill(testCtx(t, 30*time.Second), cs, partitions, n, &localhub.FillOptions{Size: 50}); err != nil {
		t.Fatal(err)
	}
}

// run is one run of a stream into sk: it resumes, reads rate events a
// partition a batch, and stops once a batch reads nothing, or, with
// crashAfter > 0, is cancelled after that many batches without a clean
// stop (its open files are left unfinished, as a crash leaves them).
type run struct {
	rate       int64
	crashAfter int64
	lossOK     bool // FailOnDataLoss false
	latest     bool // StartingPosition latest
	// afterFirst, when set, runs after the first batch, before the
	// next: its error fails the test.
	afterFirst func() error
}

func (r run) do(t *testing.T, cs string, sk *capture.Sink) (capture.Resumed, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conf := eventhubs.NewConf(cs).SetMaxRatePerPartition(r.rate).SetFailOnDataLoss(!r.lossOK)
	if r.latest {
		conf.SetStartingPosition(eventhubs.EndOfStream())
	}
	resumed, err := sk.Resume(ctx, conf)
	if err != nil {
		t.Fatal(err)
	}
	ssc, err := streaming.NewContext(20*time.Millisecond, &streaming.ContextOptions{NoBatchLog: true})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := eventhubs.CreateDirectStream(ssc, conf)
	if err != nil {
		t.Fatal(err)
	}
	if err := sk.Attach(ds); err != nil {
		t.Fatal(err)
	}
	var batches int64
	var afterFirst error
	ssc.AddListener(streaming.ListenerFunc(func(b streaming.BatchInfo) {
		batches++
		if batches == 1 && r.afterFirst != nil {
			afterFirst = r.afterFirst()
		}
		switch {
		case r.crashAfter > 0 && batches == r.crashAfter:
			cancel()
		case r.crashAfter == 0 && streaming.EmptyBatch(b):
			ssc.Stop(true)
		}
	}))
	err = ssc.Run(ctx)
	if afterFirst != nil {
		t.Fatal(afterFirst)
	}
	if r.crashAfter > 0 {
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("the crashed run ended with %v, want its cancellation", err)
		}
		return resumed, batches
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := sk.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	return resumed, batches
}

func newSink(t *testing.T, dest capture.Destination, opts *capture.SinkOptions) *capture.Sink {
	t.Helper()
	if opts == nil {
		opts = &capture.SinkOptions{}
	}
	if opts.Logger == nil && !testing.Verbose() {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	sk, err := capture.NewSink(dest, jsonLines{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return sk
}

// readFiles reads every visible file under root: the events of each
// partition in the files' order, and the files' names.
func readFiles(t *testing.T, dest capture.Destination, open func(p string) ([]jsonEvent, error)) (map[string][]int64, []capture.FileName) {
	t.Helper()
	paths, err := dest.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	seqs := map[string][]int64{}
	var names []capture.FileName
	for _, p := range paths {
		name, err := capture.ParseFileName(p)
		if err != nil {
			t.Fatalf("a visible file not of the layout: %v", err)
		}
		events, err := open(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) == 0 || events[0].Seq != name.From || events[len(events)-1].Seq != name.Until-1 {
			t.Fatalf("%s holds %d events, the first and last not its range", p, len(events))
		}
		for _, ev := range events {
			seqs[name.PartitionID] = append(seqs[name.PartitionID], ev.Seq)
		}
		names = append(names, name)
	}
	return seqs, names
}

// exactlyOnce fails unless each of the partitions holds sequence numbers
// 0 to n-1 once each, in order.
func exactlyOnce(t *testing.T, seqs map[string][]int64, partitions, n int) {
	t.Helper()
	for p := range partitions {
		got := seqs[fmt.Sprint(p)]
		if len(got) != n {
			t.Errorf("partition %d: the files hold %d events, want %d", p, len(got), n)
		}
		for i, s := range got {
			if s != int64(i) {
				t.Fatalf("partition %d: event %d of the files is sequence number %d: a duplicate or a gap", p, i, s)
			}
		}
	}
}

func readLocal(root string) func(p string) ([]jsonEvent, error) {
	return func(p string) ([]jsonEvent, error) {
		f, err := os.Open(filepath.Join(root, p))
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return readJSONLines(f)
	}
}

// tempFiles lists what is left in _tmp directories under root.
func tempFiles(t *testing.T, root string) []string {
	t.Helper()
	var left []string
	filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.Contains(p, "/_tmp/") {
			left = append(left, p)
		}
		return nil
	})
	return left
}

// Files are not one per batch: many batches go into a partition's one
// file until the clean stop, each event once.
func TestSinkWritesEachEventOnce(t *testing.T) {
	cs := startHub(t, "orders", 2, 400)
	root := t.TempDir()
	dest, _ := capture.NewDir(root)
	_, batches := run{rate: 50}.do(t, cs, newSink(t, dest, nil))
	seqs, names := readFiles(t, dest, readLocal(root))
	exactlyOnce(t, seqs, 2, 400)
	if len(names) != 2 || batches < 8 {
		t.Fatalf("%d batches wrote %d files, want one a partition", batches, len(names))
	}
	if left := tempFiles(t, root); len(left) > 0 {
		t.Fatalf("temporary files left after a clean stop: %q", left)
	}
}

// A run killed mid-file leaves its open files unfinished; the next run
// removes them, starts where the visible files end, and the files hold
// each event once.
func TestSinkCrashMidFile(t *testing.T) {
	cs := startHub(t, "orders", 2, 300)
	root := t.TempDir()
	dest, _ := capture.NewDir(root)
	opts := &capture.SinkOptions{RollSize: 3000}
	run{rate: 20, crashAfter: 6}.do(t, cs, newSink(t, dest, opts))
	if len(tempFiles(t, root)) == 0 {
		t.Fatal("the crashed run left no unfinished file: the test did not crash mid-file")
	}
	_, before := readFiles(t, dest, readLocal(root))
	fill(t, cs, 2, 100)
	resumed, _ := run{rate: 40}.do(t, cs, newSink(t, dest, opts))
	if resumed.Removed == 0 || len(resumed.Positions) != 2 || len(before) == 0 {
		t.Fatalf("the second run resumed %+v after %d files; want the leftovers removed and both partitions' positions", resumed, len(before))
	}
	seqs, _ := readFiles(t, dest, readLocal(root))
	exactlyOnce(t, seqs, 2, 400)
	if left := tempFiles(t, root); len(left) > 0 {
		t.Fatalf("temporary files left after the final clean stop: %q", left)
	}
}

// A file is finished once it reaches RollSize, within a batch too: every
// file but each partition's last holds RollSize bytes or a line more.
func TestSinkRollsBySize(t *testing.T) {
	cs := startHub(t, "orders", 1, 300)
	root := t.TempDir()
	dest, _ := capture.NewDir(root)
	const rollSize = 4000
	run{rate: 200}.do(t, cs, newSink(t, dest, &capture.SinkOptions{RollSize: rollSize}))
	seqs, names := readFiles(t, dest, readLocal(root))
	exactlyOnce(t, seqs, 1, 300)
	if len(names) < 3 {
		t.Fatalf("%d files of ~%d bytes, want several", len(names), rollSize)
	}
	for _, n := range names[:len(names)-1] {
		fi, err := os.Stat(filepath.Join(root, n.Path()))
		if err != nil || fi.Size() < rollSize || fi.Size() > rollSize+200 {
			t.Errorf("%s: %d bytes, want %d to a line more", n.Path(), fi.Size(), rollSize)
		}
	}
}

// A file begun RollInterval ago is finished at the end of a batch; with a
// long interval the same events go into one file.
func TestSinkRollsByTime(t *testing.T) {
	cs := startHub(t, "orders", 1, 200)
	files := func(interval time.Duration) int {
		root := t.TempDir()
		dest, _ := capture.NewDir(root)
		sk := newSink(t, dest, &capture.SinkOptions{RollInterval: interval})
		run{rate: 10}.do(t, cs, sk) // 20 batches, 20ms apart at least
		seqs, names := readFiles(t, dest, readLocal(root))
		exactlyOnce(t, seqs, 1, 200)
		return len(names)
	}
	if long, short := files(time.Hour), files(100*time.Millisecond); long != 1 || short < 2 || short >= 20 {
		t.Fatalf("a one-hour roll interval gave %d files, a 100ms one %d; want 1, and between 2 and 19", long, short)
	}
}

// A stream with a checkpoint, or sharing partitions, is refused, saying
// why.
func TestSinkRefusesCheckpointAndReplicas(t *testing.T) {
	cs := startHub(t, "orders", 1, 1)
	dest, _ := capture.NewDir(t.TempDir())
	sk := newSink(t, dest, nil)
	conf := eventhubs.NewConf(cs)
	if _, err := sk.Resume(testCtx(t, 30*time.Second), conf); err != nil {
		t.Fatal(err)
	}
	ssc, _ := streaming.NewContext(time.Second, nil)
	ds, _ := eventhubs.CreateDirectStream(ssc, conf)
	store, err := streaming.NewDirStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ssc.Checkpoint(store)
	if err := sk.Attach(ds); err == nil || !strings.Contains(err.Error(), "must have no checkpoint") {
		t.Errorf("Attach to a stream with a checkpoint = %v, want a refusal", err)
	}

	ssc, _ = streaming.NewContext(time.Second, nil)
	ds, _ = eventhubs.CreateDirectStream(ssc, conf)
	if err := ds.SetOwnershipStore(ownershipStore(t, conf), nil); err != nil {
		t.Fatal(err)
	}
	if err := sk.Attach(ds); err == nil || !strings.Contains(err.Error(), "overlapping files") {
		t.Errorf("Attach to a replica = %v, want a refusal saying why", err)
	}
}

// ownershipStore is an ownership store in a SQLite file of the test's.
func ownershipStore(t *testing.T, conf *eventhubs.Conf) *ownership.SQLStore {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "own.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	positions, err := offsets.Open(testCtx(t, 10*time.Second), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	job, err := offsets.JobFor("files", conf)
	if err != nil {
		t.Fatal(err)
	}
	store, err := ownership.NewSQLStore(testCtx(t, 10*time.Second), positions, job.Name, nil)
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// Events that retention removed before the stream read them leave a gap
// between the files, which CheckFiles finds; no file spans it.
func TestSinkRetentionGap(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	srv, err := emulator.Start(ctx, &emulator.Config{Hubs: []emulator.HubConfig{{Name: "orders", PartitionCount: 1, Retention: 2 * time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		eventhubs.CloseAll(context.Background())
		srv.Close()
	})
	cs := srv.ConnectionString("orders")
	root := t.TempDir()
	dest, _ := capture.NewDir(root)
	fill(t, cs, 1, 50)
	run{rate: 100}.do(t, cs, newSink(t, dest, nil)) // [0, 50)
	fill(t, cs, 1, 50)                              // [50, 100), left to expire
	for {
		hp, err := eventhubs.DescribeHub(ctx, eventhubs.NewConf(cs))
		if err != nil {
			t.Fatal(err)
		}
		if hp.Partitions[0].First >= 100 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("retention kept events until %d", hp.Partitions[0].First)
		}
		time.Sleep(100 * time.Millisecond) // polling the hub's bounds, with the test's deadline
	}
	fill(t, cs, 1, 50) // [100, 150)
	run{rate: 100, lossOK: true}.do(t, cs, newSink(t, dest, nil))
	hf, err := capture.CheckFiles(ctx, dest, hostOf(t, cs), "orders")
	if err != nil {
		t.Fatal(err)
	}
	p := hf.Partitions[0]
	if len(p.Files) != 2 || len(p.Gaps) != 1 || p.Gaps[0].From != 50 || p.Gaps[0].Until != 100 || len(p.Overlaps) != 0 {
		t.Fatalf("files %+v, want [0, 50) and [100, 150) with the gap [50, 100)", p)
	}
}

func hostOf(t *testing.T, cs string) string {
	host, err := eventhubs.NewConf(cs).NamespaceHost()
	if err != nil {
		t.Fatal(err)
	}
	return host
}

// A file that cannot be made visible fails the batch, naming it; the
// next run, the fault gone, writes each event once.
func TestSinkFailedFinish(t *testing.T) {
	cs := startHub(t, "orders", 1, 100)
	root := t.TempDir()
	dest, _ := capture.NewDir(root)
	// A plain file where the year's directory goes: the rename cannot land.
	year := filepath.Join(root, hostOf(t, cs), "orders", "0", fmt.Sprint(time.Now().UTC().Year()))
	os.MkdirAll(filepath.Dir(year), 0o755)
	os.WriteFile(year, nil, 0o644)
	conf := eventhubs.NewConf(cs)
	sk := newSink(t, dest, &capture.SinkOptions{RollSize: 1000})
	if _, err := sk.Resume(testCtx(t, 30*time.Second), conf); err != nil {
		t.Fatal(err)
	}
	ssc, _ := streaming.NewContext(20*time.Millisecond, &streaming.ContextOptions{NoBatchLog: true})
	ds, _ := eventhubs.CreateDirectStream(ssc, conf)
	sk.Attach(ds)
	err := ssc.Run(testCtx(t, 30*time.Second))
	if err == nil || !strings.Contains(err.Error(), "capture: finishing "+hostOf(t, cs)+"/orders/0/") || !strings.Contains(err.Error(), "the file is dropped") {
		t.Fatalf("Run = %v, want the failed file named", err)
	}
	os.Remove(year)
	run{rate: 100}.do(t, cs, newSink(t, dest, nil))
	seqs, _ := readFiles(t, dest, readLocal(root))
	exactlyOnce(t, seqs, 1, 100)
}

// A stream from latest whose partitions had no visible file when it
// crashed goes on, at the restart, from where its first start resolved
// latest (the partitions' start markers), not from latest anew: the
// events it held only in unfinished files are written, once.
func TestSinkLatestCrashBeforeAFile(t *testing.T) {
	cs := startHub(t, "orders", 2, 50) // before the start: not the job's
	root := t.TempDir()
	dest, _ := capture.NewDir(root)
	fillMore := func() error { return localhub.Fill(context.Background(), cs, 2, 100, &localhub.FillOptions{Size: 50}) }
	first := run{rate: 20, crashAfter: 4, latest: true, afterFirst: fillMore}
	resumed, _ := first.do(t, cs, newSink(t, dest, nil))
	if resumed.Recorded != 2 || resumed.Positions["0"] != 50 || resumed.Positions["1"] != 50 {
		t.Fatalf("the first run resumed %+v; want both partitions' starts, 50, recorded", resumed)
	}
	if files, _ := dest.List(context.Background(), ""); len(files) != 0 || len(tempFiles(t, root)) == 0 {
		t.Fatalf("the crashed run left %d visible files and %d unfinished; want none and some", len(files), len(tempFiles(t, root)))
	}
	resumed, _ = run{rate: 100, latest: true}.do(t, cs, newSink(t, dest, nil))
	if resumed.Recorded != 0 || resumed.Positions["0"] != 50 {
		t.Fatalf("the restart resumed %+v; want the recorded starts, 50", resumed)
	}
	seqs, _ := readFiles(t, dest, readLocal(root))
	for p := range 2 {
		got := seqs[fmt.Sprint(p)]
		if len(got) != 100 || got[0] != 50 || got[99] != 149 {
			t.Fatalf("partition %d: the files hold %d events (%v...), want [50, 150) once each", p, len(got), got[:min(len(got), 3)])
		}
	}
}
