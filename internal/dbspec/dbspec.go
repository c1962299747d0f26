// Package dbspec keeps the passwords of a database spec (sqlite:PATH or a
// postgres:// URL, as --sink and --ownership take them) out of what is
// shown: descriptions, logs and drivers' errors.
package dbspec

import (
	"net/url"
	"strings"
)

// Redact is spec as it may be shown: a URL without the password of its
// user information or of a password parameter (in any case). A spec that
// is not a valid URL but may hold one is not shown at all.
func Redact(spec string) string {
	if strings.HasPrefix(spec, "sqlite:") {
		return spec
	}
	u, err := url.Parse(spec)
	if err != nil {
		if strings.Contains(spec, "@") || strings.Contains(spec, "?") {
			return "(not shown: not a valid URL, and it may hold a password)"
		}
		return spec
	}
	q := u.Query()
	for k := range q {
		if strings.EqualFold(k, "password") {
			q.Set(k, "xxxxx")
			u.RawQuery = q.Encode()
		}
	}
	return u.Redacted()
}

// Secrets lists the passwords in spec, for Scrub.
func Secrets(spec string) []string {
	u, err := url.Parse(spec)
	if err != nil {
		return nil
	}
	var out []string
	if pw, ok := u.User.Password(); ok && pw != "" {
		out = append(out, pw)
	}
	for k, vs := range u.Query() {
		if strings.EqualFold(k, "password") {
			out = append(out, vs...)
		}
	}
	return out
}

// Scrub replaces each secret in msg (a driver's error, which may quote
// the spec) with xxxxx.
func Scrub(msg string, secrets []string) string {
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
		}
	}
	return msg
}
