// Command notices writes THIRD_PARTY_NOTICES.md: the license of every
// module the ehstream binary links (the modules `go version -m ehstream`
// lists), of the Go standard library, and of third-party files the
// binary embeds from this repository (uPlot), each with its license
// files' text as found in the module cache.
//
//	go generate ./internal/notices          # rewrite THIRD_PARTY_NOTICES.md
//	go run ./internal/notices -check        # exit 1 when it is out of date
//
// The modules are those of `go list -deps ./cmd/ehstream` for each
// platform a release may target (platforms), so that a dependency only
// one platform links is listed too. A license that licensecheck cannot
// name, or one outside allowedLicenses, is an error: a new dependency
// under terms nobody looked at fails here, not in a release.
// TestNoticesCurrent runs the check with the tests, so CI fails when a
// dependency changes and the file was not generated again.
//
// Files: main.go (flags), collect.go (modules, license files and their
// names), render.go (the Markdown).
package main

//go:generate go run . -o ../../THIRD_PARTY_NOTICES.md

import (
	"bytes"
	"flag"
	"fmt"
	"os"
)

func main() {
	out := flag.String("o", "THIRD_PARTY_NOTICES.md", "the file to write, or with -check to compare")
	check := flag.Bool("check", false, "only compare the file with what would be written; exit 1 when they differ")
	root := flag.String("root", "", "the repository's root (default: the main module's directory, from go list)")
	flag.Parse()
	if err := run(*root, *out, *check); err != nil {
		fmt.Fprintln(os.Stderr, "notices:", err)
		os.Exit(1)
	}
}

func run(root, out string, check bool) error {
	text, err := generate(root)
	if err != nil {
		return err
	}
	if !check {
		return os.WriteFile(out, text, 0o644)
	}
	return compare(out, text)
}

// compare says whether the file at path holds want, and if not how to
// make it so.
func compare(path string, want []byte) error {
	have, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%v: run go generate ./internal/notices", err)
	}
	if !bytes.Equal(have, want) {
		return fmt.Errorf("%s is out of date with the modules the ehstream binary links: run go generate ./internal/notices and commit the result", path)
	}
	return nil
}
