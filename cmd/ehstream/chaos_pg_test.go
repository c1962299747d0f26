package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// privatePostgres is a throwaway PostgreSQL server of the chaos test's
// own, which it may restart without disturbing the machine's shared
// cluster that other packages' tests use at the same time.
type privatePostgres struct {
	bindir string
	dir    string // the temporary directory; the cluster is dir/data
	port   int
	asUser string // "postgres" when the test runs as root
	opts   string // the server's options, for pg_ctl start
	URL    string
}

// postgresBindir finds the installation's server binaries.
func postgresBindir() (string, error) {
	var candidates []string
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for i := len(found) - 1; i >= 0; i-- { // the newest version first
		candidates = append(candidates, found[i])
	}
	for _, dir := range candidates {
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "pg_ctl")); err == nil {
				return dir, nil
			}
		}
	}
	return "", fmt.Errorf("no PostgreSQL server binaries (initdb, pg_ctl) in %v", candidates)
}

// chaosPorts returns n distinct loopback ports that were free a moment
// ago; the chaos test picks each port once, to restart its servers on the
// same one.
func chaosPorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close() // held until all are chosen, so that none repeats
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// startPrivatePostgres initialises and starts a server on a loopback
// port (trust authentication, user postgres); cleanup stops it and removes
// its files.
func startPrivatePostgres(t *testing.T, port int) *privatePostgres {
	t.Helper()
	bindir, err := postgresBindir()
	if err != nil {
		t.Fatalf("the chaos test needs its own PostgreSQL server: %v", err)
	}
	dir, err := os.MkdirTemp("", "ehstream-chaos-pg-")
	if err != nil {
		t.Fatal(err)
	}
	s := &privatePostgres{bindir: bindir, dir: dir, port: port}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		// The server refuses to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, the private PostgreSQL server needs user postgres: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		s.asUser = "postgres"
	}
	if out, err := s.run("initdb", "-D", s.data(), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	s.opts = fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s -c fsync=off -c max_connections=50", s.port, dir)
	err = s.start()
	t.Cleanup(s.stop)
	if err != nil {
		t.Fatal(err)
	}
	s.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
	return s
}

func (s *privatePostgres) data() string { return filepath.Join(s.dir, "data") }

// start starts the server, stopped or never started, and waits until it
// answers.
func (s *privatePostgres) start() error {
	if out, err := s.run("pg_ctl", "start", "-D", s.data(), "-w", "-t", "60", "-l", filepath.Join(s.dir, "server.log"), "-o", s.opts); err != nil {
		return fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, s.log())
	}
	return nil
}

// run runs one of the server's programs, as user postgres when the test
// runs as root.
func (s *privatePostgres) run(name string, args ...string) ([]byte, error) {
	prog := filepath.Join(s.bindir, name)
	var cmd *exec.Cmd
	if s.asUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", s.asUser, "--", prog}, args...)...)
	} else {
		cmd = exec.Command(prog, args...)
	}
	cmd.Dir = s.dir
	// The output goes to a file, not a pipe: a server that pg_ctl starts
	// inherits it, and Wait would wait for the server to close a pipe.
	f, err := os.CreateTemp("", "ehstream-chaos-pg-out-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	err = cmd.Run()
	out, _ := os.ReadFile(f.Name())
	return out, err
}

// restart is what `pg_ctlcluster 15 main restart` does: a fast shutdown
// (sessions are ended, transactions rolled back) and a start.
func (s *privatePostgres) restart() error {
	if out, err := s.run("pg_ctl", "restart", "-D", s.data(), "-m", "fast", "-w", "-t", "60", "-l", filepath.Join(s.dir, "server.log")); err != nil {
		return fmt.Errorf("pg_ctl restart: %v\n%s\n%s", err, out, s.log())
	}
	return nil
}

// stop ends the server at once; when pg_ctl cannot, the postmaster is
// killed.
func (s *privatePostgres) stop() {
	if _, err := s.run("pg_ctl", "stop", "-D", s.data(), "-m", "immediate", "-w", "-t", "30"); err == nil {
		return
	}
	b, err := os.ReadFile(filepath.Join(s.data(), "postmaster.pid"))
	if err != nil {
		return
	}
	if pid, err := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0]); err == nil && pid > 0 {
		syscall.Kill(pid, syscall.SIGKILL)
		deadline := time.Now().Add(10 * time.Second)
		for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// log is the end of the server's log, for a failure's message.
func (s *privatePostgres) log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	return tail(string(b), 4000)
}
