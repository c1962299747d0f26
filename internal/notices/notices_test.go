package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const noticesFile = "../../THIRD_PARTY_NOTICES.md"

// TestNoticesCurrent fails when THIRD_PARTY_NOTICES.md is not what the
// modules the binary links now make of it: a dependency added, removed
// or upgraded without go generate ./internal/notices.
func TestNoticesCurrent(t *testing.T) {
	text, err := generate("")
	if err != nil {
		t.Fatal(err)
	}
	if err := compare(noticesFile, text); err != nil {
		t.Fatal(err)
	}
	// Every module of the build list the binary links is in the table,
	// with its version: the same check as above, said another way, so a
	// broken generator that wrote an empty table would not pass.
	mods, _, err := linkedModules(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if len(mods) < 10 {
		t.Fatalf("go list found %d linked modules; ehstream links dozens", len(mods))
	}
	for _, m := range mods {
		if !strings.Contains(string(text), "| "+m.Path+" | "+m.Version+" | ") {
			t.Errorf("%s %s is not in the table", m.Path, m.Version)
		}
	}
	if !strings.Contains(string(text), "| monitor/assets/uplot (embedded) |  | MIT |") {
		t.Error("uPlot, embedded in the status page, is not in the table")
	}
}

// TestNoticesStale shows the check fails on a file that lacks a module.
func TestNoticesStale(t *testing.T) {
	text, err := generate("")
	if err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(t.TempDir(), "NOTICES.md")
	lines := strings.Split(string(text), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "| golang.org/x/sys |") {
			lines = append(lines[:i], lines[i+1:]...)
			break
		}
	}
	if err := os.WriteFile(stale, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	err = compare(stale, text)
	if err == nil || !strings.Contains(err.Error(), "go generate ./internal/notices") {
		t.Fatalf("compare of a file without golang.org/x/sys: %v, want an error naming the cure", err)
	}
}

// TestLicenseNames checks the names and the refusals of licenses.
func TestLicenseNames(t *testing.T) {
	goLicense, err := os.ReadFile(filepath.Join("..", "..", "LICENSE"))
	if err != nil {
		t.Fatal(err)
	}
	c := component{Name: "ehstream", Files: []licenseFile{{"LICENSE", string(goLicense)}, {"NOTICE", "some notice"}}}
	if err := c.name(); err != nil || c.License != "MIT" {
		t.Errorf("ehstream's LICENSE: %q, %v; want MIT", c.License, err)
	}
	for _, tc := range []struct {
		files []licenseFile
		want  string
	}{
		{nil, "no LICENSE file"},
		{[]licenseFile{{"NOTICE", "x"}}, "no LICENSE file"},
		{[]licenseFile{{"LICENSE", "All rights reserved. Do not copy."}}, "licensecheck names"},
		{[]licenseFile{{"COPYING", gplStart}}, "is not one of"},
	} {
		c := component{Name: "example.com/m", Version: "v1.0.0", Files: tc.files}
		if err := c.name(); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "example.com/m v1.0.0") {
			t.Errorf("files %v: %v, want an error naming the module and %q", tc.files, err, tc.want)
		}
	}
}

const gplStart = `GNU GENERAL PUBLIC LICENSE
Version 3, 29 June 2007

Copyright (C) 2007 Free Software Foundation, Inc. <https://fsf.org/>
Everyone is permitted to copy and distribute verbatim copies of this license document, but changing it is not allowed.

This program is free software: you can redistribute it and/or modify it under the terms of the GNU General Public License as published by the Free Software Foundation, either version 3 of the License, or (at your option) any later version.`
