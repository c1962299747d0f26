// Package buildinfo says which ehstream a program runs: the version of the
// ehstream module, the VCS revision it was built from (and whether the
// tree had changes), the revision's time and the Go version, as the Go
// toolchain stamps them into every binary (runtime/debug.ReadBuildInfo),
// so that nothing needs -ldflags.
//
//	fmt.Print(buildinfo.Read())                  // what `ehstream version` prints
//	reg.MustRegister(buildinfo.NewCollector())   // ehstream_build_info{version,revision,goversion} 1
//
// `go build` in a git checkout stamps the revision; `go run`, `go test`,
// -buildvcs=false and a git worktree (whose .git is a file, golang/go#58218)
// do not, and then Revision is empty. In a program that imports ehstream
// as a library, Version is the version of the ehstream module it requires
// and the revision is the program's own.
//
// Files: buildinfo.go (Info, Read), metrics.go (NewCollector).
package buildinfo
