package eventhubs

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ConnectionString is an Event Hubs connection string, parsed or to be
// built: the Spark connector's ConnectionStringBuilder. Fill the fields and
// call Build, or ParseConnectionString an existing one.
//
// String redacts SharedAccessKey and SharedAccessSignature, so printing a
// ConnectionString (or logging it) never leaks a secret; Build gives the
// full string.
type ConnectionString struct {
	// Endpoint is sb://<namespace>.servicebus.windows.net/ (or, for the
	// emulator, sb://host:port).
	Endpoint string
	// SharedAccessKeyName and SharedAccessKey: a SAS policy and its key.
	SharedAccessKeyName string
	SharedAccessKey     string
	// SharedAccessSignature: a ready SAS token, instead of a key.
	SharedAccessSignature string
	// EntityPath is the event hub's name.
	EntityPath string
	// UseDevelopmentEmulator makes the SDKs dial plain AMQP over TCP to a
	// local emulator (ehstream emulator, or Microsoft's).
	UseDevelopmentEmulator bool
	// OperationTimeout, when set, is the default for Conf.OperationTimeout.
	OperationTimeout time.Duration
}

// The keys of a connection string, spelled as Azure spells them. Parsing is
// case-insensitive, as the SDKs are.
const (
	keyEndpoint               = "Endpoint"
	keySharedAccessKeyName    = "SharedAccessKeyName"
	keySharedAccessKey        = "SharedAccessKey"
	keySharedAccessSignature  = "SharedAccessSignature"
	keyEntityPath             = "EntityPath"
	keyUseDevelopmentEmulator = "UseDevelopmentEmulator"
	keyOperationTimeout       = "OperationTimeout"
)

var connStringKeys = []string{keyEndpoint, keySharedAccessKeyName, keySharedAccessKey,
	keySharedAccessSignature, keyEntityPath, keyUseDevelopmentEmulator, keyOperationTimeout}

// ParseConnectionString parses "Key=Value;Key=Value" as the Azure portal
// gives it. An IoT Hub's Event Hub-compatible endpoint works as is; an IoT
// Hub service connection string (HostName=...) is refused with directions.
// Errors name the offending key but never print a key's or signature's
// value.
func ParseConnectionString(s string) (*ConnectionString, error) {
	if strings.TrimSpace(s) == "" {
		return nil, csError("the connection string is empty")
	}
	var c ConnectionString
	seen := map[string]bool{}
	for i, part := range strings.Split(s, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			// The part itself may be a pasted secret: say where, not what.
			return nil, csError("part %d has no '=': want Key=Value pairs separated by ';'", i+1)
		}
		k = strings.TrimSpace(k)
		v = strings.TrimSpace(v)
		name := canonicalKey(k)
		if name == "" {
			if strings.EqualFold(k, "HostName") {
				return nil, csError("this is an IoT Hub connection string (HostName=...); " +
					"use the hub's Event Hub-compatible endpoint instead: Azure portal, your IoT hub, " +
					"Hub settings > Built-in endpoints > Event Hub-compatible endpoint " +
					"(it starts with Endpoint=sb:// and ends with EntityPath=...)")
			}
			return nil, csError("unknown key %q (known keys: %s)", printableKey(k), strings.Join(connStringKeys, ", "))
		}
		if seen[name] {
			return nil, csError("key %s appears twice", name)
		}
		seen[name] = true
		if v == "" {
			return nil, csError("key %s has an empty value", name)
		}
		if err := c.set(name, v); err != nil {
			return nil, err
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// set sets key name, one of connStringKeys, to v.
func (c *ConnectionString) set(name, v string) error {
	switch name {
	case keyEndpoint:
		c.Endpoint = v
	case keySharedAccessKeyName:
		c.SharedAccessKeyName = v
	case keySharedAccessKey:
		c.SharedAccessKey = v
	case keySharedAccessSignature:
		c.SharedAccessSignature = v
	case keyEntityPath:
		c.EntityPath = v
	case keyUseDevelopmentEmulator:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return csError("UseDevelopmentEmulator=%q: want true or false", v)
		}
		c.UseDevelopmentEmulator = b
	case keyOperationTimeout:
		d, err := parseTimeout(v)
		if err != nil {
			return csError("OperationTimeout=%q: %v", v, err)
		}
		c.OperationTimeout = d
	}
	return nil
}

// Validate checks that the connection string can be used: an sb:// endpoint
// with a host, and either a key name with its key or a signature.
func (c *ConnectionString) Validate() error {
	if c.Endpoint == "" {
		return csError("key Endpoint is missing (want Endpoint=sb://<namespace>.servicebus.windows.net/)")
	}
	u, err := url.Parse(c.Endpoint)
	if err != nil || !strings.EqualFold(u.Scheme, "sb") || u.Host == "" || (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.User != nil || u.Fragment != "" || strings.Contains(c.Endpoint, ";") {
		return csError("Endpoint=%q: want sb://<namespace>.servicebus.windows.net/ (or sb://host:port for an emulator)", redactURL(c.Endpoint))
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return csError("Endpoint=%q: port %q is not a number from 1 to 65535", c.Endpoint, port)
		}
	}
	switch {
	case c.SharedAccessSignature != "" && c.SharedAccessKey != "":
		return csError("both SharedAccessKey and SharedAccessSignature are set; use one")
	case c.SharedAccessSignature != "":
	case c.SharedAccessKeyName == "" && c.SharedAccessKey == "":
		return csError("no credentials: set SharedAccessKeyName and SharedAccessKey, or SharedAccessSignature")
	case c.SharedAccessKeyName == "":
		return csError("key SharedAccessKeyName is missing (SharedAccessKey needs the name of its policy)")
	case c.SharedAccessKey == "":
		return csError("key SharedAccessKey is missing (SharedAccessKeyName %q needs its key)", c.SharedAccessKeyName)
	}
	if strings.ContainsAny(c.EntityPath, ";/") || strings.TrimSpace(c.EntityPath) != c.EntityPath {
		return csError("EntityPath=%q is not an event hub name", c.EntityPath)
	}
	for _, f := range []struct{ key, v string }{{keySharedAccessKeyName, c.SharedAccessKeyName},
		{keySharedAccessKey, c.SharedAccessKey}, {keySharedAccessSignature, c.SharedAccessSignature}} {
		if strings.Contains(f.v, ";") || strings.TrimSpace(f.v) != f.v {
			// The value is not printed: it may be the secret itself.
			return csError("key %s holds a ';' or surrounding spaces, which a connection string cannot carry", f.key)
		}
	}
	if c.OperationTimeout < 0 {
		return csError("OperationTimeout=%s is negative", c.OperationTimeout)
	}
	return nil
}

// Build returns the connection string, secrets included, after Validate.
func (c *ConnectionString) Build() (string, error) {
	if err := c.Validate(); err != nil {
		return "", err
	}
	return c.format(false), nil
}

// String is the connection string with SharedAccessKey and
// SharedAccessSignature replaced by "REDACTED": safe to print and log.
func (c *ConnectionString) String() string { return c.format(true) }

// Namespace is the endpoint's host (with its port, if any), the
// "fully qualified namespace" the SDKs talk about.
func (c *ConnectionString) Namespace() string {
	u, err := url.Parse(c.Endpoint)
	if err != nil {
		return ""
	}
	return u.Host
}

// Hostname is the namespace's host without a port: what identifies the
// namespace in checkpoints and stored positions, so that an emulator may
// move to another port.
func (c *ConnectionString) Hostname() string {
	u, err := url.Parse(c.Endpoint)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// forSDK is the string handed to azeventhubs: it carries only the keys the
// SDK knows, and EntityPath only when it names this hub.
func (c *ConnectionString) forSDK() string {
	d := *c
	d.OperationTimeout = 0
	return d.format(false)
}

func (c *ConnectionString) format(redact bool) string {
	var b strings.Builder
	add := func(k, v string) {
		if v == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteByte(';')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(v)
	}
	secret := func(v string) string {
		if redact && v != "" {
			return "REDACTED"
		}
		return v
	}
	add(keyEndpoint, c.Endpoint)
	add(keySharedAccessKeyName, c.SharedAccessKeyName)
	add(keySharedAccessKey, secret(c.SharedAccessKey))
	add(keySharedAccessSignature, secret(c.SharedAccessSignature))
	add(keyEntityPath, c.EntityPath)
	if c.UseDevelopmentEmulator {
		add(keyUseDevelopmentEmulator, "true")
	}
	if c.OperationTimeout > 0 {
		add(keyOperationTimeout, c.OperationTimeout.String())
	}
	return b.String()
}

func canonicalKey(k string) string {
	for _, name := range connStringKeys {
		if strings.EqualFold(k, name) {
			return name
		}
	}
	return ""
}

// printableKey shows an unknown key only when it looks like a key name: a
// base64 SAS key pasted without its "SharedAccessKey=" splits at its
// trailing '=' into a long "key", which must not end up in an error.
func printableKey(k string) string {
	if len(k) == 0 || len(k) > 30 {
		return "(not shown)"
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_' || r == '-' || r == '.') {
			return "(not shown)"
		}
	}
	return k
}

// redactURL drops anything after the host that might carry a credential.
func redactURL(s string) string {
	if strings.ContainsAny(s, "@?#") {
		return "(not shown: it contains '@', '?' or '#')"
	}
	return s
}

// parseTimeout reads a Go duration ("60s"), an ISO 8601 duration ("PT1M",
// what the Java connector writes) or a .NET TimeSpan ("00:01:00").
func parseTimeout(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return 0, fmt.Errorf("must be positive")
		}
		return d, nil
	}
	up := strings.ToUpper(s)
	if strings.HasPrefix(up, "PT") && len(up) > 2 {
		d, err := time.ParseDuration(strings.ToLower(up[2:]))
		if err == nil && d > 0 {
			return d, nil
		}
	}
	if parts := strings.Split(s, ":"); len(parts) == 3 {
		h, err1 := strconv.Atoi(parts[0])
		m, err2 := strconv.Atoi(parts[1])
		sec, err3 := strconv.ParseFloat(parts[2], 64)
		// h is bounded so that h hours, 59 minutes and 59.9 seconds fit in a Duration.
		if err1 == nil && err2 == nil && err3 == nil && h >= 0 && int64(h) < int64(math.MaxInt64/time.Hour) &&
			m >= 0 && m < 60 && sec >= 0 && sec < 60 {
			d := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec*float64(time.Second))
			if d > 0 {
				return d, nil
			}
		}
	}
	return 0, fmt.Errorf("want a positive duration such as 60s, PT1M or 00:01:00")
}

func csError(format string, args ...any) *Error {
	return errorf(CodeInvalidConnectionString, format, args...)
}
