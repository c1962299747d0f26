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

// A user name that is also the password is shown (it is, with the user
// name, whatever is hidden): only the password is masked, in the
// description and in the driver's error.
func TestSinkMasksOnlyThePassword(t *testing.T) {
	spec := "postgres://postgres:postgres@127.0.0.1:1/archive?connect_timeout=1"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sk, err := Open(ctx, spec, "events")
	if err == nil {
		sk.Close()
		t.Fatalf("Open(%s) connected to a closed port", Redact(spec))
	}
	want := "connecting to postgres://postgres:xxxxx@127.0.0.1:1/archive?connect_timeout=1: failed to connect to `user=postgres database=archive`"
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q\nwant it to start %q", err, want)
	}
	if !Transient(err) {
		t.Errorf("error %q: not Transient, though the database was out of reach", err)
	}
}
