package sqlsink

import (
	"context"
	"strings"
	"testing"
	"time"
)

// A password in a postgres URL, in its user part or as a password
// parameter, shows in neither the sink's description nor its errors.
func TestSinkHidesPasswords(t *testing.T) {
	for _, spec := range []string{
		"postgres://app:Secret-In-User@127.0.0.1:1/db?connect_timeout=1",
		"postgres://app@127.0.0.1:1/db?password=Secret-In-Query&connect_timeout=1",
		"postgres://app@127.0.0.1:1/db?PASSWORD=Secret-In-Query&connect_timeout=1",
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		sk, err := Open(ctx, spec, "events")
		cancel()
		if err == nil {
			sk.Close()
			t.Fatalf("Open(%s) connected to a closed port", Redact(spec))
		}
		for _, shown := range []string{err.Error(), Redact(spec), RedactErr(err, spec)} {
			if strings.Contains(shown, "Secret-In") {
				t.Errorf("a password shows: %s", shown)
			}
		}
	}
}
