// Package dbspec keeps the passwords of a database spec (sqlite:PATH or a
// postgres:// URL, as --sink and --ownership take them) out of what is
// shown: descriptions, logs and drivers' errors.
package dbspec

import (
	"net/url"
	"regexp"
	"strings"
)

// Masked is what stands for a password that is not shown.
const Masked = "xxxxx"

// Redact is spec as it may be shown: a URL without the password of its
// user information or of a password parameter (in any case), and
// otherwise as written, unescaped: text after the URL (a table's name,
// as descriptions add it) stays as it is. A spec that is not a valid URL
// but may hold one is not shown at all.
func Redact(spec string) string {
	if strings.HasPrefix(spec, "sqlite:") {
		return spec
	}
	if _, err := url.Parse(spec); err != nil {
		if strings.Contains(spec, "@") || strings.Contains(spec, "?") {
			return "(not shown: not a valid URL, and it may hold a password)"
		}
		return spec
	}
	return maskPasswords(spec)
}

// userPassword is the password of a URL's user information, up to the
// last '@' of the authority (url.Parse's reading); passwordParam is a
// password parameter of a query or of a keyword/value connection string.
var (
	userPassword  = regexp.MustCompile(`(?i)(\b[a-z][a-z0-9+.-]*://[^:@/?#\s]*:)[^/?#\s]*@`)
	passwordParam = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)('[^']*'|[^&\s]*)`)
)

// maskPasswords replaces, in s, each password that stands as one: after a
// URL's user name, and as a password parameter's value.
func maskPasswords(s string) string {
	s = userPassword.ReplaceAllString(s, "${1}"+Masked+"@")
	return passwordParam.ReplaceAllString(s, "${1}"+Masked)
}

// Secrets lists the passwords in spec, for Scrub. A password that is also
// the spec's user name, host or database name is left out: it shows with
// them whatever is masked, and masking it everywhere would hide them too
// (a "postgres" password would take the user name, the scheme and the
// words of an error with it). Scrub still masks it where it stands as a
// password.
func Secrets(spec string) []string {
	u, err := url.Parse(spec)
	if err != nil {
		return nil
	}
	shown := []string{u.User.Username(), u.Hostname(), strings.TrimPrefix(u.Path, "/")}
	var out []string
	add := func(pw string) {
		for _, s := range shown {
			if pw == s {
				return
			}
		}
		out = append(out, pw)
	}
	if pw, ok := u.User.Password(); ok && pw != "" {
		add(pw)
	}
	for k, vs := range u.Query() {
		if strings.EqualFold(k, "password") {
			for _, v := range vs {
				add(v)
			}
		}
	}
	return out
}

// Scrub hides the passwords in msg (a driver's error, which may quote the
// spec): any that stands as a password (after a URL's user name, in a
// password parameter), and each of secrets wherever it is.
func Scrub(msg string, secrets []string) string {
	msg = maskPasswords(msg)
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, Masked)
		}
	}
	return msg
}

// ScrubErr is err with Scrub's message; errors.Is and errors.As still see
// err, so that a caller can tell, say, a connection refused from a bad
// password.
func ScrubErr(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := Scrub(err.Error(), secrets)
	if msg == err.Error() {
		return err
	}
	return &scrubbed{msg: msg, err: err}
}

// scrubbed is an error whose message was cleared of secrets.
type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }
