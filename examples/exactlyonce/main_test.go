package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Each run sends 2,000 readings (250 per device); a run whose batch fails
// after writing its counts leaves no trace, and the next run's counts are
// exact: 250 per device per successful send.
func TestExactlyOnceExample(t *testing.T) {
	dbs := map[string]string{"sqlite": "sqlite:" + filepath.Join(t.TempDir(), "counts.db")}
	if url := os.Getenv("EHSTREAM_TEST_POSTGRES"); url != "" {
		dbs["postgres"] = url
	} else {
		t.Log("EHSTREAM_TEST_POSTGRES is not set: the PostgreSQL run is skipped")
	}
	for name, db := range dbs {
		t.Run(name, func(t *testing.T) {
			if name == "postgres" {
				t.Cleanup(func() {
					d, err := openDB(db)
					if err == nil {
						d.Exec("DROP TABLE device_counts")
						d.Exec("DELETE FROM ehstream_offsets WHERE job = 'device-counts'")
						d.Close()
					}
				})
				d, err := openDB(db)
				if err != nil {
					t.Fatal(err)
				}
				d.Exec("DROP TABLE IF EXISTS device_counts")
				d.Exec("DELETE FROM ehstream_offsets WHERE job = 'device-counts'")
				d.Close()
			}
			data := t.TempDir()
			exec := func(args ...string) (string, error) {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				var out strings.Builder
				err := run(ctx, append([]string{"-db", db, "-data", data}, args...), &out)
				return out.String(), err
			}
			out, err := exec("-fail-in-batch", "2")
			if err == nil || !strings.Contains(err.Error(), "on purpose") {
				t.Fatalf("run with a failing batch: %v\n%s", err, out)
			}
			for _, want := range []string{"500", "750"} { // 2 sends, then 3 sends of 250 per device
				out, err = exec()
				if err != nil {
					t.Fatalf("run: %v\n%s", err, out)
				}
				for d := range 8 {
					line := "device-" + string(rune('0'+d)) + " " + want
					if !strings.Contains(out, line+"\n") {
						t.Fatalf("want %q in the counts:\n%s", line, out)
					}
				}
			}
		})
	}
}
