package dbspec

import (
	"errors"
	"strings"
	"testing"
)

// Only the password is hidden, the rest shown as written: a user name
// equal to the password stays, and so does text after the URL.
func TestRedactHidesOnlyThePassword(t *testing.T) {
	for _, c := range []struct{ spec, want string }{
		{"postgres://postgres:postgres@127.0.0.1:5432/nu_rep table events", "postgres://postgres:xxxxx@127.0.0.1:5432/nu_rep table events"},
		{"postgres://app:S3cret@db/x?sslmode=disable", "postgres://app:xxxxx@db/x?sslmode=disable"},
		{"postgres://app:p@ss@db/x", "postgres://app:xxxxx@db/x"},
		{"postgres://app@db/x?sslmode=disable&Password=S3cret&application_name=a b", "postgres://app@db/x?sslmode=disable&Password=xxxxx&application_name=a b"},
		{"postgres://app@db:5432/x", "postgres://app@db:5432/x"},
		{"sqlite:/tmp/my events.db", "sqlite:/tmp/my events.db"},
	} {
		if got := Redact(c.spec); got != c.want {
			t.Errorf("Redact(%q) = %q, want %q", c.spec, got, c.want)
		}
	}
}

// A driver's error keeps the user name even when it is the password; a
// password that is not shown otherwise is hidden wherever it is, and
// errors.As still sees the driver's error.
func TestScrubErr(t *testing.T) {
	cause := errors.New("failed to connect to `user=postgres database=postgres`: dial postgres://postgres:postgres@127.0.0.1:1/postgres: refused")
	err := ScrubErr(cause, Secrets("postgres://postgres:postgres@127.0.0.1:1/postgres"))
	if want := "failed to connect to `user=postgres database=postgres`: dial postgres://postgres:xxxxx@127.0.0.1:1/postgres: refused"; err.Error() != want {
		t.Errorf("scrubbed:\n%s\nwant\n%s", err, want)
	}
	cause = errors.New("auth failed for app with S3cret-Pw (password=S3cret-Pw)")
	err = ScrubErr(cause, Secrets("postgres://app:S3cret-Pw@db/x"))
	if strings.Contains(err.Error(), "S3cret") || !strings.Contains(err.Error(), "app") || !errors.Is(err, cause) {
		t.Errorf("scrubbed %q (errors.Is the cause: %v): want the password hidden, the user shown, the cause in the chain", err, errors.Is(err, cause))
	}
}
