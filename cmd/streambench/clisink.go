package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ehstream/ehstream/sqlsink"
)

// cliConfig is what the flag -cli-sink says.
type cliConfig struct {
	list  string
	sinks []string // sqlite, postgres: from list
}

func (c *cliConfig) flags() {
	flag.StringVar(&c.list, "cli-sink", "", "then read the backlog again once per sink with the ehstream command itself (ehstream stream --until-idle, "+
		"built from this module), a comma-separated list of sqlite and postgres (the database of -postgres)")
}

// check says which flag is wrong and what it takes, and fills sinks;
// postgres is the database -postgres gives.
func (c *cliConfig) check(postgres string) error {
	var err error
	if c.sinks, err = listFlag("-cli-sink", c.list, "sqlite", "postgres"); err != nil {
		return err
	}
	if slices.Contains(c.sinks, "postgres") && postgres == "" {
		return fmt.Errorf("-cli-sink postgres: no database: give -postgres postgres://user:password@host:5432/db, or set EHSTREAM_TEST_POSTGRES")
	}
	return nil
}

// runCLISinks reads the backlog again with `ehstream stream --until-idle`
// into each sink of -cli-sink, a process of its own as users run it, and
// prints its rate against the plain stream's (direct): over the whole
// process (start-up, the last idle batch and the exit included) and over
// its batches that read events (from the first one's start to the last
// one's end, as its JSON batch records say), and its CPU per event.
func runCLISinks(ctx context.Context, connStr string, want int64, c config, direct phase) error {
	if len(c.cli.sinks) == 0 {
		return nil
	}
	dir, err := os.MkdirTemp("", "streambench-cli")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "ehstream")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/ehstream/ehstream/cmd/ehstream").CombinedOutput(); err != nil {
		return fmt.Errorf("building ehstream: %v\n%s", err, out)
	}
	for _, name := range c.cli.sinks {
		table := "streambench_" + strings.ToLower(rand.Text()[:10])
		spec := "sqlite:" + filepath.Join(dir, "cli.db")
		if name == "postgres" {
			spec = c.state.postgres
		}
		p, batches, err := runCLI(ctx, bin, connStr, spec, table, c)
		if name == "postgres" {
			dropTable(ctx, spec, table)
		}
		if err != nil {
			return fmt.Errorf("ehstream stream into %s: %w", name, err)
		}
		if p.events != want {
			return fmt.Errorf("ehstream stream into %s wrote %d events, want %d", name, p.events, want)
		}
		fmt.Printf("cli %s: %s %s batches: events/s=%.0f ratio=%.2f\n", name, p, p.against(direct),
			batches.rate(), batches.rate()/direct.rate())
	}
	return nil
}

// runCLI runs ehstream stream once into spec's table; p is the whole
// process (its CPU from the kernel), batches the span of its batches that
// read events.
func runCLI(ctx context.Context, bin, connStr, spec, table string, c config) (p, batches phase, err error) {
	cmd := exec.CommandContext(ctx, bin, "stream", "--connection-string", connStr, "--sink", spec, "--table", table, "--job", table,
		"--until-idle", "--batch-interval", c.interval.String(), "--max-rate-per-partition", fmt.Sprint(c.rate), "--log-format", "json")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return p, batches, fmt.Errorf("%v\n%s", err, stderr.String())
	}
	p.wall = time.Since(start)
	p.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	var first, last time.Time
	sc := bufio.NewScanner(&stderr)
	for sc.Scan() {
		var rec struct {
			Msg                             string
			Events                          int64
			BatchTime                       time.Time
			SchedulingDelay, ProcessingTime string
		}
		if json.Unmarshal(sc.Bytes(), &rec) != nil || rec.Msg != "streaming: batch done" || rec.Events == 0 {
			continue
		}
		delay, _ := time.ParseDuration(rec.SchedulingDelay)
		took, _ := time.ParseDuration(rec.ProcessingTime)
		begin := rec.BatchTime.Add(delay)
		if first.IsZero() {
			first = begin
		}
		last = begin.Add(took)
		p.events += rec.Events
	}
	batches = phase{events: p.events, wall: last.Sub(first)}
	return p, batches, nil
}

// dropTable drops a table runCLI made in PostgreSQL (the job's positions
// stay: its name is the table's, used once).
func dropTable(ctx context.Context, spec, table string) {
	sk, err := sqlsink.Open(ctx, spec, table)
	if err != nil {
		return
	}
	defer sk.Close()
	sk.DB.ExecContext(ctx, "DROP TABLE "+table)
}
