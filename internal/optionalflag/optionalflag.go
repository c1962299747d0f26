// Package optionalflag holds command-line flags whose value may be left
// out: --kafka-listen alone means its default address, --kafka-listen=ADDR
// or --kafka-listen ADDR another. Go's flag package takes a flag without a
// value only for booleans, so Addr tells it it is one (IsBoolFlag), and
// Parse gives a bare Addr flag the argument that follows it.
package optionalflag

import (
	"flag"
	"fmt"
	"net"
	"strings"
)

// Addr is a listen address flag, "" until given; given alone it is
// Default. "true" and "false", which the flag package passes for a bare
// boolean, mean Default and none.
type Addr struct {
	// Default is the address the flag alone means, host:port.
	Default string
	value   string
}

// Value is the address given, Default when the flag came alone, "" when
// it was not given.
func (a *Addr) Value() string { return a.value }

func (a *Addr) String() string {
	if a == nil {
		return ""
	}
	return a.value
}

// Set takes host:port, or the flag package's "true" (given alone) and
// "false"; the error says what to give instead.
func (a *Addr) Set(s string) error {
	switch s {
	case "true":
		a.value = a.Default
		return nil
	case "false":
		a.value = ""
		return nil
	}
	if _, _, err := net.SplitHostPort(s); err != nil {
		// The flag package's error quotes the value before this.
		return fmt.Errorf("want host:port, such as %s, or the flag alone for that one (%v)", a.Default, err)
	}
	a.value = s
	return nil
}

// IsBoolFlag lets the flag package take the flag without a value.
func (a *Addr) IsBoolFlag() bool { return true }

// Parse parses args into fs as fs.Parse does, except that the argument
// after a bare Addr flag, when it does not start with '-', is that flag's
// value (--kafka-listen 127.0.0.1:9092): the flag package would stop at
// it. The arguments left are fs.Args().
func Parse(fs *flag.FlagSet, args []string) error {
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		rest := fs.Args()
		before := len(args) - len(rest) - 1 // the argument before the first left
		if len(rest) == 0 || before < 0 || strings.HasPrefix(rest[0], "-") {
			return nil
		}
		name, ok := bareAddrFlag(fs, args[before])
		if !ok {
			return nil
		}
		if err := fs.Set(name, rest[0]); err != nil {
			return fmt.Errorf("invalid value %q for flag -%s: %w", rest[0], name, err)
		}
		args = rest[1:]
	}
}

// bareAddrFlag is the name of the Addr flag arg gives without a value
// ("-name" or "--name").
func bareAddrFlag(fs *flag.FlagSet, arg string) (string, bool) {
	name, ok := strings.CutPrefix(arg, "-")
	if !ok || strings.Contains(name, "=") {
		return "", false
	}
	name = strings.TrimPrefix(name, "-")
	f := fs.Lookup(name)
	if f == nil {
		return "", false
	}
	_, isAddr := f.Value.(*Addr)
	return name, isAddr
}
