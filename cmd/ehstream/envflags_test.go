package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// --sink and --ownership come from EHSTREAM_SINK and EHSTREAM_OWNERSHIP
// when the command line does not give them, and the command line wins.
func TestSecretFlagsFromEnv(t *testing.T) {
	dir := t.TempDir()
	fromEnv, fromFlag := filepath.Join(dir, "from-env.db"), filepath.Join(dir, "from-flag.db")
	t.Setenv("EHSTREAM_SINK", "sqlite:"+fromEnv)

	// offsets only reads: a sink with no positions is an error naming it.
	code, _, errOut := cli(t, "", "offsets")
	if code == 0 || !strings.Contains(errOut, "from-env.db") {
		t.Errorf("offsets with EHSTREAM_SINK: exit %d, %q; want an error naming from-env.db", code, errOut)
	}
	code, _, errOut = cli(t, "", "offsets", "--sink", "sqlite:"+fromFlag)
	if code == 0 || !strings.Contains(errOut, "from-flag.db") || strings.Contains(errOut, "from-env.db") {
		t.Errorf("offsets --sink with EHSTREAM_SINK: exit %d, %q; want an error naming from-flag.db only", code, errOut)
	}

	// A bad store from the environment is refused before anything runs; an
	// empty --ownership turns it off.
	t.Setenv("EHSTREAM_OWNERSHIP", "ftp://example.com/claims")
	code, _, errOut = cli(t, "", "stream", "--http", "", "--connection-string", "Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=k;SharedAccessKey=v;EntityPath=h")
	if code != 2 || !strings.Contains(errOut, "--ownership") {
		t.Errorf("stream with a bad EHSTREAM_OWNERSHIP: exit %d, %q; want 2 and an error about --ownership", code, errOut)
	}
	code, _, errOut = cli(t, "", "offsets", "--ownership", "")
	if strings.Contains(errOut, "ownership") {
		t.Errorf("offsets --ownership \"\" with EHSTREAM_OWNERSHIP set: exit %d, %q; want the variable ignored", code, errOut)
	}
}
