package capture

import (
	"context"
	"io"
	"path"
	"slices"
	"strings"
)

// Destination is where a sink's files go: a directory (Dir) or an Azure
// Blob Storage container (Blob). A file is begun where no reader sees it
// and made visible under its final name in one step, once complete, so
// that the visible files are the record of what was written: their names
// (FileName) hold the ranges they cover.
//
// Paths are relative to the destination, with slashes, as FileName.Path
// and PartitionDir give them.
type Destination interface {
	// Begin starts a file of the partition whose directory is dir
	// (PartitionDir), under a temporary name no reader sees.
	Begin(ctx context.Context, dir string) (PendingFile, error)
	// Last is the path of the last visible file of the partition whose
	// directory is dir, in the layout's order (time, then range); "" when
	// there is none. It lists only the newest year, month, day, hour and
	// minute that hold a file, not the partition's history.
	Last(ctx context.Context, dir string) (string, error)
	// List is the path of every visible file under dir (a hub's, a
	// partition's), sorted.
	List(ctx context.Context, dir string) ([]string, error)
	// RemoveLeftovers removes what files begun and never finished left
	// in the partition whose directory is dir (a crashed run's), and
	// says how many it removed.
	RemoveLeftovers(ctx context.Context, dir string) (int, error)
	// String names the destination in messages, without secrets.
	String() string
}

// PendingFile is a file begun and not yet visible.
type PendingFile interface {
	io.Writer
	// Finish makes the file visible at path, durably, in one step: a
	// reader sees all of it or nothing, and a crash after Finish returns
	// keeps it.
	Finish(ctx context.Context, path string) error
	// Abandon drops the file; it never becomes visible.
	Abandon() error
}

// lister lists a directory of a destination: the names of the
// directories and of the visible files it holds, in any order.
type lister func(ctx context.Context, dir string) (dirs, files []string, err error)

// timeLevels is how many directories the layout puts between a
// partition's directory and its files: year, month, day, hour, minute.
const timeLevels = 5

// lastFile descends from a partition's directory into the largest year,
// month, day, hour and minute, and returns the largest file's path there;
// a directory that holds no file (emptied by hand) is passed over for the
// next largest. Directories that are not numbers (the temporary files'
// _tmp) and files whose names are not the layout's are skipped.
func lastFile(ctx context.Context, dir string, list lister, level int) (string, error) {
	dirs, files, err := list(ctx, dir)
	if err != nil {
		return "", err
	}
	if level == timeLevels {
		return largestFile(dir, files), nil
	}
	slices.SortFunc(dirs, func(a, b string) int { return -strings.Compare(a, b) })
	for _, d := range dirs {
		if !allDigits(d) {
			continue
		}
		last, err := lastFile(ctx, path.Join(dir, d), list, level+1)
		if last != "" || err != nil {
			return last, err
		}
	}
	return "", nil
}

// largestFile is the path of the last of files, in dir, that are names of
// the layout; "" when none is.
func largestFile(dir string, files []string) string {
	last := ""
	for _, f := range files {
		if f > last {
			if _, err := ParseFileName(path.Join(dir, f)); err == nil {
				last = f
			}
		}
	}
	if last == "" {
		return ""
	}
	return path.Join(dir, last)
}

func allDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// hidden says whether readers skip a name: Spark and Hadoop skip names
// that start with '_' or '.', and so do the destinations' listings.
func hidden(name string) bool {
	return strings.HasPrefix(name, "_") || strings.HasPrefix(name, ".")
}
