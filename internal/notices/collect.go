package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/licensecheck"
)

// mainPackage is the binary the notices are for.
const mainPackage = "./cmd/ehstream"

// platforms are those a release of the binary may be built for; the
// modules linked differ a little between them (golang.org/x/sys's files,
// terminal handling).
var platforms = []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64"}

// allowedLicenses are the licenses a linked module may have: permissive
// ones whose only condition on a binary is to reproduce their notices,
// which this file does.
var allowedLicenses = []string{"MIT", "BSD-2-Clause", "BSD-3-Clause", "Apache-2.0", "ISC", "Zlib", "Unlicense", "CC0-1.0"}

// component is one thing the binary contains under its own license.
type component struct {
	Name, Version string
	License       string        // the names licensecheck gives its main license file, e.g. "BSD-3-Clause"
	Files         []licenseFile // LICENSE, NOTICE, PATENTS, ... in name order
}

type licenseFile struct {
	Name string // relative to the component's directory
	Text string
}

// module is one line of go list: a module a package of the binary is in.
type module struct{ Path, Version, Dir string }

// linkedModules lists the modules other than the main one that the binary
// links on any of platforms, and the main module's packages it links.
func linkedModules(root string) (mods []module, ownDirs []string, err error) {
	seen := map[string]bool{}
	for _, p := range platforms {
		goos, goarch, _ := strings.Cut(p, "/")
		cmd := exec.Command("go", "list", "-deps", "-f",
			"{{with .Module}}{{if .Main}}main\t{{$.Dir}}{{else}}{{.Path}}\t{{.Version}}\t{{.Dir}}{{end}}{{end}}", mainPackage)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, nil, fmt.Errorf("go list -deps %s for %s: %v\n%s", mainPackage, p, err, stderr.Bytes())
		}
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			line := sc.Text()
			if line == "" || seen[line] {
				continue
			}
			seen[line] = true
			f := strings.Split(line, "\t")
			switch {
			case f[0] == "main" && len(f) == 2:
				ownDirs = append(ownDirs, f[1])
			case len(f) == 3 && f[2] != "":
				mods = append(mods, module{f[0], f[1], f[2]})
			default:
				return nil, nil, fmt.Errorf("go list: module %q has no directory in the module cache: run go mod download", line)
			}
		}
	}
	slices.SortFunc(mods, func(a, b module) int { return strings.Compare(a.Path, b.Path) })
	slices.Sort(ownDirs)
	return mods, ownDirs, nil
}

// isLicenseFile says whether a file's name marks it as one a binary's
// notices should reproduce.
func isLicenseFile(name string) bool {
	upper := strings.ToUpper(name)
	for _, prefix := range []string{"LICENSE", "LICENCE", "COPYING", "NOTICE", "PATENTS"} {
		if strings.HasPrefix(upper, prefix) {
			return true
		}
	}
	return false
}

// moduleComponent reads a module's license files from its directory's top
// (a module's zip holds its own tree only, so that is where they are).
func moduleComponent(m module) (component, error) {
	entries, err := os.ReadDir(m.Dir)
	if err != nil {
		return component{}, err
	}
	c := component{Name: m.Path, Version: m.Version}
	for _, e := range entries {
		if e.Type().IsRegular() && isLicenseFile(e.Name()) {
			text, err := os.ReadFile(filepath.Join(m.Dir, e.Name()))
			if err != nil {
				return component{}, err
			}
			c.Files = append(c.Files, licenseFile{e.Name(), string(text)})
		}
	}
	return c, c.name()
}

// name sets c.License from its main license file, the shortest-named
// LICENSE/LICENCE/COPYING (LICENSE before LICENSE-SQLITE), and checks it
// is allowed.
func (c *component) name() error {
	var main *licenseFile
	for i, f := range c.Files {
		upper := strings.ToUpper(f.Name)
		if !strings.HasPrefix(upper, "LICEN") && !strings.HasPrefix(upper, "COPYING") {
			continue
		}
		if main == nil || len(f.Name) < len(main.Name) {
			main = &c.Files[i]
		}
	}
	if main == nil {
		return fmt.Errorf("%s %s: no LICENSE file: find its terms before linking it", c.Name, c.Version)
	}
	cov := licensecheck.Scan([]byte(main.Text))
	var ids []string
	for _, m := range cov.Match {
		if !m.IsURL && !slices.Contains(ids, m.ID) {
			ids = append(ids, m.ID)
		}
	}
	if len(ids) == 0 || cov.Percent < 75 {
		return fmt.Errorf("%s %s: licensecheck names %q in %s (%.0f%% of its text): read the file, and add the module by hand if it is fine", c.Name, c.Version, ids, main.Name, cov.Percent)
	}
	for _, id := range ids {
		if !slices.Contains(allowedLicenses, id) {
			return fmt.Errorf("%s %s: license %s (%s) is not one of %v: ask before linking it", c.Name, c.Version, id, main.Name, allowedLicenses)
		}
	}
	c.License = strings.Join(ids, " AND ")
	return nil
}

// embeddedComponents finds third-party files the main module's linked
// packages carry: a license file below a package's directory (such as
// monitor/assets/uplot/LICENSE) marks the directory as one, named by its
// path from the root.
func embeddedComponents(root string, ownDirs []string) ([]component, error) {
	var comps []component
	seen := map[string]bool{}
	for _, dir := range ownDirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if path != dir && (d.Name() == "testdata" || d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) {
					return filepath.SkipDir
				}
				return nil
			}
			if filepath.Dir(path) == dir || !isLicenseFile(d.Name()) || seen[path] {
				return nil // a package's own files are ehstream's
			}
			seen[path] = true
			return addEmbedded(&comps, root, path)
		})
		if err != nil {
			return nil, err
		}
	}
	return comps, nil
}

// addEmbedded adds the license file at path to the component of its
// directory.
func addEmbedded(comps *[]component, root, path string) error {
	text, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(root, filepath.Dir(path))
	if err != nil {
		return err
	}
	name := filepath.ToSlash(rel) + " (embedded)"
	i := slices.IndexFunc(*comps, func(c component) bool { return c.Name == name })
	if i < 0 {
		*comps = append(*comps, component{Name: name})
		i = len(*comps) - 1
	}
	c := &(*comps)[i]
	c.Files = append(c.Files, licenseFile{filepath.Base(path), string(text)})
	return c.name()
}
