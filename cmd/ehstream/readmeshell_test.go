package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readmeCmd is one shell command of the README.
type readmeCmd struct {
	line   int      // the README line it starts on
	text   string   // as written, continuation lines included
	expect []string // the lines of a ```text block after it: output it promises
}

// readmeCommands returns the commands of the README's ```sh blocks in
// order. A command goes on while a line ends with \, |, && or ||. Every
// block must say what it holds, so that a new block of commands cannot
// slip past the test untagged.
func readmeCommands(readme string) ([]readmeCmd, error) {
	var cmds []readmeCmd
	var cur *readmeCmd
	tag, inBlock := "", false
	for i, l := range strings.Split(readme, "\n") {
		n := i + 1
		if info, ok := strings.CutPrefix(l, "```"); ok {
			if inBlock {
				if cur != nil {
					return nil, fmt.Errorf("README.md:%d: the command of line %d goes on past the end of its block", n, cur.line)
				}
				inBlock = false
				continue
			}
			inBlock, tag = true, strings.TrimSpace(info)
			switch tag {
			case "sh", "text", "go", "js", "json", "yaml", "promql":
			default:
				return nil, fmt.Errorf("README.md:%d: a code block tagged %q: tag commands sh, their output text, or code by its language, so that the README test knows what to run", n, tag)
			}
			continue
		}
		if !inBlock {
			continue
		}
		trimmed := strings.TrimSpace(l)
		switch tag {
		case "sh":
			if cur == nil {
				if trimmed == "" || strings.HasPrefix(trimmed, "#") {
					continue
				}
				cur = &readmeCmd{line: n, text: l}
			} else {
				cur.text += "\n" + l
			}
			if !continues(trimmed) {
				cmds = append(cmds, *cur)
				cur = nil
			}
		case "text":
			if len(cmds) == 0 {
				return nil, fmt.Errorf("README.md:%d: output shown before any command", n)
			}
			if trimmed != "" {
				cmds[len(cmds)-1].expect = append(cmds[len(cmds)-1].expect, l)
			}
		}
	}
	return cmds, nil
}

func continues(line string) bool {
	for _, s := range []string{`\`, "|", "&&"} { // "||" ends with "|"
		if strings.HasSuffix(line, s) {
			return true
		}
	}
	return false
}

// shellProc is one README command running under `bash -c`.
type shellProc struct {
	cmd            *exec.Cmd
	envFile        string
	stdout, stderr lockedBuffer
	done           chan struct{}
	err            error
}

// startShell runs text with bash in the copy of the repository, with the
// session's environment. With captureEnv, bash writes the environment the
// command leaves, for the next command: the README's exports carry over as
// in a terminal. pipefail: a failing producer in a pipe fails the command.
func (r *readmeRun) startShell(text string, captureEnv bool) *shellProc {
	p := &shellProc{done: make(chan struct{})}
	script := "set -o pipefail\n" + text
	if captureEnv {
		p.envFile = filepath.Join(r.t.TempDir(), "env")
		script += "\n__readme_rc=$?\nenv -0 > '" + p.envFile + "'\nexit $__readme_rc"
	}
	p.cmd = exec.Command("bash", "-c", script)
	p.cmd.Dir, p.cmd.Env = r.dir, r.env
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	// A process group of its own, as a terminal gives a command: Ctrl-C
	// goes to the whole group, and so does the cleanup's kill.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p.cmd.WaitDelay = 5 * time.Second
	if err := p.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	r.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.signal(syscall.SIGKILL)
			<-p.done
		}
	})
	return p
}

func (p *shellProc) signal(sig syscall.Signal) { syscall.Kill(-p.cmd.Process.Pid, sig) }

// interrupt is Ctrl-C.
func (p *shellProc) interrupt() { p.signal(syscall.SIGINT) }

// wait waits for the command to exit; past the timeout it is killed and
// the test fails.
func (p *shellProc) wait(t *testing.T, where string, timeout time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.signal(syscall.SIGKILL)
		<-p.done
		t.Fatalf("%s\nstill running after %s: killed\n%s", where, timeout, p.output())
	}
}

// waitFor polls stdout for re until the deadline and returns the match;
// the command must not exit first.
func (p *shellProc) waitFor(t *testing.T, where string, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if m := re.FindStringSubmatch(p.stdout.String()); m != nil {
			return m
		}
		select {
		case <-p.done:
			if m := re.FindStringSubmatch(p.stdout.String()); m != nil {
				return m
			}
			t.Fatalf("%s\nexited (%v) before printing %q\n%s", where, p.err, re, p.output())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s\nprinted no %q within %s\n%s", where, re, timeout, p.output())
		}
	}
}

// exportedEnv is the environment the command left, without the variables
// bash itself changes on every run.
func (p *shellProc) exportedEnv() ([]string, error) {
	b, err := os.ReadFile(p.envFile)
	if err != nil {
		return nil, err
	}
	var env []string
	for _, kv := range strings.Split(strings.TrimRight(string(b), "\x00"), "\x00") {
		name, _, _ := strings.Cut(kv, "=")
		if name != "_" && name != "SHLVL" && name != "OLDPWD" {
			env = append(env, kv)
		}
	}
	return env, nil
}

// output is the command's stdout and stderr, their ends only when long.
func (p *shellProc) output() string {
	tail := func(s string) string {
		if len(s) > 4000 {
			return "..." + s[len(s)-4000:]
		}
		return s
	}
	return "stdout:\n" + tail(p.stdout.String()) + "\nstderr:\n" + tail(p.stderr.String())
}
