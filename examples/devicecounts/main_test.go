package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
)

// The example as a user runs it: a local Event Hubs with 2,004 sample
// readings, SQLite. Every reading is in the table: counted in its minute,
// late (the three old readings), or without a time (one), and the
// minutes printed.
func TestDeviceCountsLocal(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var out strings.Builder
	dbPath := filepath.Join(dir, "counts.db")
	if err := run(ctx, []string{"-db", dbPath, "-data", filepath.Join(dir, "data")}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"minute ", "device-0=0(+3 late)", "without a readable time, in no minute: device-1=1"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("want %q in the output:\n%s", want, out.String())
		}
	}
	db, err := openDB(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var counted, late, bad int64
	if err := db.QueryRow(`SELECT sum(events), sum(late) FROM device_counts`).Scan(&counted, &late); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT sum(events) FROM device_bad_events`).Scan(&bad); err != nil {
		t.Fatal(err)
	}
	// The last minutes stay open (append mode): fewer than 2,000 counted,
	// but not fewer than the 8 closed minutes' worth.
	if late != 3 || bad != 1 || counted < 1500 || counted > 2000 {
		t.Fatalf("counted %d, late %d, without a time %d; want 1,500 to 2,000, 3 and 1:\n%s", counted, late, bad, out.String())
	}
}

// Bad flags are refused, naming the value and the cure, before anything
// is opened.
func TestDeviceCountsBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-batch-interval", "0s"}, "-batch-interval 0s: want a positive duration"},
		{[]string{"-max-rate-per-partition", "-5"}, "-max-rate-per-partition -5: want a positive number"},
		{[]string{"-lateness", "-1s"}, "-lateness -1s: want 0 or a positive duration"},
		{[]string{"-job", " "}, "-job is empty: name the job"},
		{[]string{"-db", "mysql://u:secret@h/db"}, "-db mysql://: want a postgres:// URL or a SQLite file path"},
		{[]string{"-db", ""}, "-db is empty: give a SQLite file"},
		{[]string{"-ownership", "redis://h"}, "-ownership: ownership: store redis://h: want a postgres:// URL"},
		{[]string{"-ownership", "sqlite:o.db", "-owner-id", ""}, "-owner-id is empty: give each replica its own name"},
		{[]string{"-ownership", "sqlite:o.db", "-ownership-interval", "2s", "-ownership-expiration", "1s"}, "-ownership-expiration 1s: must exceed -ownership-interval 2s"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		var out strings.Builder
		err := run(context.Background(), append([]string{"-connection-string", "Endpoint=sb://127.0.0.1:1/;SharedAccessKeyName=k;SharedAccessKey=c2VjcmV0;EntityPath=h"}, c.args...), &out)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error with %q", c.args, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%v: the error shows a secret: %v", c.args, err)
		}
	}
}

// An event's time is RFC 3339 or Unix milliseconds; anything else is said.
func TestReadingOf(t *testing.T) {
	at := time.Date(2025, 1, 2, 15, 4, 5, 123e6, time.UTC)
	for body, want := range map[string]reading{
		`{"device":"d","time":"2025-01-02T15:04:05.123Z"}`:      {Device: "d", Time: at},
		`{"device":"d","time":"2025-01-02T16:04:05.123+01:00"}`: {Device: "d", Time: at},
		`{"device":"d","time":1735830245123}`:                   {Device: "d", Time: at},
		`{"time":1735830245123}`:                                {Device: unknownDevice, Time: at},
		`{"device":"d"}`:                                        {Device: "d", Bad: "no time"},
		`{"device":"d","time":"yesterday"}`:                     {Device: "d", Bad: `time "yesterday" is not RFC 3339`},
		`{"device":"d","time":1.5}`:                             {Device: "d", Bad: "time 1.5 is neither RFC 3339 nor Unix milliseconds"},
		`not json`:                                              {Device: unknownDevice, Bad: "not a JSON object"},
	} {
		got := readingOf(&eventhubs.Event{Body: []byte(body)})
		if got.Device != want.Device || !got.Time.Equal(want.Time) || got.Bad != want.Bad {
			t.Errorf("%s: %+v, want %+v", body, got, want)
		}
	}
	if m := minuteOf(at); m != "2025-01-02T15:04:00Z" {
		t.Errorf("minuteOf(%s) = %s", at, m)
	}
}
