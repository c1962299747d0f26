package optionalflag_test

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/ehstream/ehstream/internal/optionalflag"
)

// flags is a flag set with two Addr flags, kafka and tls, and a string
// flag data.
func flags() (*flag.FlagSet, *optionalflag.Addr, *optionalflag.Addr, *string) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	kafka := &optionalflag.Addr{Default: "127.0.0.1:9092"}
	tls := &optionalflag.Addr{Default: "127.0.0.1:9093"}
	fs.Var(kafka, "kafka", "")
	fs.Var(tls, "tls", "")
	return fs, kafka, tls, fs.String("data", "", "")
}

// TestParse: an Addr flag alone is its default, with =ADDR or ADDR after
// it another; other flags parse around it; a bad address is an error that
// names it.
func TestParse(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		kafka, tls string
		data       string
		rest       []string
		err        string
	}{
		{args: nil},
		{args: []string{"--kafka"}, kafka: "127.0.0.1:9092"},
		{args: []string{"--kafka", "--data", "d"}, kafka: "127.0.0.1:9092", data: "d"},
		{args: []string{"-kafka=0.0.0.0:1"}, kafka: "0.0.0.0:1"},
		{args: []string{"--kafka", "127.0.0.1:0", "--tls", "--data", "d"}, kafka: "127.0.0.1:0", tls: "127.0.0.1:9093", data: "d"},
		{args: []string{"--kafka", "[::1]:9", "--tls", "localhost:7"}, kafka: "[::1]:9", tls: "localhost:7"},
		{args: []string{"--kafka", "--", "x"}, kafka: "127.0.0.1:9092", rest: []string{"x"}},
		{args: []string{"--data", "d", "x"}, data: "d", rest: []string{"x"}},
		{args: []string{"--kafka", "nine"}, err: `invalid value "nine" for flag -kafka: want host:port, such as 127.0.0.1:9092`},
		{args: []string{"--kafka=:x:"}, err: `want host:port`},
	} {
		fs, kafka, tls, data := flags()
		err := optionalflag.Parse(fs, tc.args)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.args, err, tc.err)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.args, err)
		case kafka.Value() != tc.kafka || tls.Value() != tc.tls || *data != tc.data || !slices.Equal(fs.Args(), tc.rest) && len(tc.rest)+fs.NArg() > 0:
			t.Errorf("%q: kafka %q tls %q data %q rest %q; want %q %q %q %q", tc.args, kafka.Value(), tls.Value(), *data, fs.Args(), tc.kafka, tc.tls, tc.data, tc.rest)
		}
	}
}
