// Package blobspec reads and redacts what names an Azure Blob Storage
// container: a connection string and a container name, or a container's
// URL. The ownership store and the capture sink's Blob destination share
// it. Errors carry no package prefix: the caller adds its own.
package blobspec

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// ContainerOfURL is the container a container URL names, after checking
// that a token may be sent to it: https, and nothing that is not a path.
func ContainerOfURL(s string) (string, error) {
	u, err := url.Parse(s)
	const want = "want https://ACCOUNT.blob.core.windows.net/CONTAINER (or https://HOST:PORT/ACCOUNT/CONTAINER for an emulator)"
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		return "", fmt.Errorf("blob container URL %s: %s", RedactURL(s), want)
	case u.Scheme == "http":
		return "", fmt.Errorf("blob container URL %s: a credential's token is sent over https only: %s "+
			"(Azurite serves https with --cert and --key, and checks tokens with --oauth basic)", RedactURL(s), want)
	case u.Scheme != "https" || u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("blob container URL %s: %s, with no query (a SAS goes in a connection string: blob:CONNECTION-STRING/CONTAINER)", RedactURL(s), want)
	}
	path := strings.Trim(u.Path, "/")
	name := path[strings.LastIndex(path, "/")+1:]
	if len(name) < 3 || len(name) > 63 || !containerName.MatchString(name) {
		return "", fmt.Errorf("blob container URL %s: container %.70q: want 3 to 63 lower-case letters, digits and single hyphens, "+
			"starting and ending with a letter or digit, after the URL's last '/'", RedactURL(s), name)
	}
	return name, nil
}

// RedactURL is a URL without what may carry a secret: user information,
// query and fragment.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(not a URL)"
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		u.User, u.RawQuery, u.Fragment = nil, "xxxxx", ""
	}
	return u.String()
}

// containerName is what Azure Storage takes: 3 to 63 lower-case letters,
// digits and hyphens, starting and ending with a letter or digit, no two
// hyphens in a row.
var containerName = regexp.MustCompile(`^[a-z0-9](?:-?[a-z0-9])+$`)

// ValidContainer refuses a name Azure Storage would. The name is shown
// unless it is part of one of secrets: the end of an account key cut at
// one of its '/', in a spec whose container was left out.
func ValidContainer(name string, secrets []string) error {
	if len(name) >= 3 && len(name) <= 63 && containerName.MatchString(name) {
		return nil
	}
	if name == "" {
		return errors.New("blob: no container: want blob:CONNECTION-STRING/CONTAINER, the container after the last '/'")
	}
	for _, s := range secrets {
		if strings.Contains(s, name) || strings.Contains(name, s) {
			return errors.New("blob: the last '/' is inside the connection string's account key or signature: " +
				"want blob:CONNECTION-STRING/CONTAINER, the container after the last '/'")
		}
	}
	return fmt.Errorf("blob container name %q: want 3 to 63 lower-case letters, digits and single hyphens, "+
		"starting and ending with a letter or digit, after the connection string's last '/'", name)
}

// secretKeys are the connection string keys whose values are never shown.
var secretKeys = []string{"AccountKey", "SharedAccessSignature", "SharedAccessKey"}

func isSecretKey(k string) bool {
	for _, s := range secretKeys {
		if strings.EqualFold(strings.TrimSpace(k), s) {
			return true
		}
	}
	return false
}

// ConnStrSecrets lists the secret values in a connection string.
func ConnStrSecrets(cs string) []string {
	var out []string
	for _, part := range strings.Split(cs, ";") {
		if k, v, ok := strings.Cut(part, "="); ok && isSecretKey(k) && v != "" {
			out = append(out, v)
		}
	}
	return out
}

// RedactConnStr is a connection string with its secret values, and the
// query of any URL in it, replaced by "xxxxx".
func RedactConnStr(cs string) string {
	parts := strings.Split(cs, ";")
	for i, part := range parts {
		k, v, ok := strings.Cut(part, "=")
		switch {
		case !ok:
		case isSecretKey(k):
			parts[i] = k + "=xxxxx"
		case strings.Contains(v, "?"):
			parts[i] = k + "=" + v[:strings.Index(v, "?")] + "?xxxxx"
		}
	}
	return strings.Join(parts, ";")
}

// CheckAccountKey refuses an AccountKey that is not base64: most often a
// spec whose container was forgotten, so that its last '/' cut the key.
func CheckAccountKey(cs string) error {
	for _, part := range strings.Split(cs, ";") {
		if k, v, ok := strings.Cut(part, "="); ok && k == "AccountKey" {
			if _, err := base64.StdEncoding.DecodeString(v); err != nil || v == "" {
				return fmt.Errorf("blob storage connection string %s: its AccountKey is not base64 "+
					"(was the /CONTAINER at the end left out, so that a '/' inside the key was taken for it?)", RedactConnStr(cs))
			}
		}
	}
	return nil
}
