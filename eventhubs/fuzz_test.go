package eventhubs

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// utSecretValues returns the values of the SharedAccessKey and
// SharedAccessSignature parts of s that are at least 8 characters long
// (trimmed, as the parser trims them), and s with each of those values
// replaced by canary. The split follows ParseConnectionString: parts at ';',
// key and value at the first '=', keys compared case-insensitively.
func utSecretValues(s, canary string) (secrets []string, replaced string) {
	parts := strings.Split(s, ";")
	for i, part := range parts {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		name := canonicalKey(strings.TrimSpace(k))
		if name != keySharedAccessKey && name != keySharedAccessSignature {
			continue
		}
		if v = strings.TrimSpace(v); len(v) >= 8 {
			secrets = append(secrets, v)
			parts[i] = k + "=" + canary
		}
	}
	return secrets, strings.Join(parts, ";")
}

// utCanary returns a string of at least 8 characters that does not occur in s.
func utCanary(s string) string {
	c := "CaNaRy0x"
	for strings.Contains(s, c) {
		c += "Q"
	}
	return c
}

var utConnStringSeeds = []string{
	utPortal, utSAS, utEmulator, utIoTHub, utIoTService,
	"endpoint=" + utEndpoint + ";SHAREDACCESSKEYNAME=Root;sharedAccessKey=" + utKey + ";entitypath=Hub;usedevelopmentemulator=TRUE",
	utPortal + ";",
	utPortal + ";OperationTimeout=60s",
	utPortal + ";OperationTimeout=PT1M",
	utPortal + ";OperationTimeout=00:01:00",
	utPortal + ";OperationTimeout=6000000:00:00",
	"Endpoint=sb://[::1]:5672;SharedAccessKeyName=a;SharedAccessKey=b",
	// Invalid ones.
	"",
	";;;",
	"SharedAccessKeyName=Root;SharedAccessKey=" + utKey + ";EntityPath=hub",
	"Endpoint=https://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=" + utKey,
	"Endpoint=sb://127.0.0.1:70000;SharedAccessKeyName=Root;SharedAccessKey=" + utKey,
	"Endpoint=sb://127.0.0.1:99999999;SharedAccessKeyName=Root;SharedAccessKey=99999999",
	"Endpoint=" + utEndpoint + ";SharedAccessKey=" + utKey,
	"Endpoint=" + utEndpoint + ";SharedAccessKeyName=Root",
	"Endpoint=" + utEndpoint + ";SharedAccessKeyName=Root;SharedAccessKey=" + utKey + ";SharedAccessSignature=" + utSig,
	utPortal + ";Foo=bar",
	utPortal + ";EntityPath=again",
	utPortal + ";SharedAccessKey=" + utKey,
	utPortal + ";OperationTimeout=",
	utPortal + ";justtext",
	utPortal + ";UseDevelopmentEmulator=yes",
	utPortal + ";OperationTimeout=soon",
	"Endpoint=" + utEndpoint + ";SharedAccessKeyName=Root;" + utPastedKey + ";EntityPath=hub",
	"Endpoint=" + utEndpoint + ";" + utSig + ";EntityPath=hub",
	"Endpoint=sb://Root:" + utKey + "@ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=" + utKey,
	"Endpoint=sb://a;b/;SharedAccessKeyName=Root;SharedAccessKey=" + utKey,
}

func FuzzParseConnectionString(f *testing.F) {
	for _, s := range utConnStringSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := ParseConnectionString(s)
		canary := utCanary(s)
		secrets, replaced := utSecretValues(s, canary)
		if err != nil {
			if cs != nil {
				t.Fatalf("ParseConnectionString(%q) returned %v along with error %v", s, cs, err)
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeInvalidConnectionString {
				t.Fatalf("ParseConnectionString(%q): error %v is not an *Error with code %s", s, err, CodeInvalidConnectionString)
			}
			msg := err.Error()
			// Whatever the secrets are, the outcome does not depend on
			// them: with canaries in their place, parsing fails the same
			// way, and the canary does not show.
			_, err2 := ParseConnectionString(replaced)
			if err2 == nil {
				t.Fatalf("ParseConnectionString(%q) failed with %v, but succeeds with the secrets replaced: %q", s, err, replaced)
			}
			msg2 := err2.Error()
			if strings.Contains(msg2, canary) {
				t.Fatalf("error for %q leaks the SharedAccessKey or SharedAccessSignature value: %s", replaced, msg2)
			}
			// The message may contain a secret's text only when that text
			// comes from elsewhere (another part of the input or the
			// message's own words): then it is still there with the
			// secrets replaced.
			for _, v := range secrets {
				if strings.Contains(msg, v) && !strings.Contains(msg2, v) {
					t.Fatalf("error for %q leaks the secret value %q: %s", s, v, msg)
				}
			}
			return
		}
		if cs == nil {
			t.Fatalf("ParseConnectionString(%q) returned nil and no error", s)
		}
		if err := cs.Validate(); err != nil {
			t.Fatalf("ParseConnectionString(%q) = %#v, which does not Validate: %v", s, *cs, err)
		}
		built, err := cs.Build()
		if err != nil {
			t.Fatalf("ParseConnectionString(%q) = %#v, but Build fails: %v", s, *cs, err)
		}
		again, err := ParseConnectionString(built)
		if err != nil {
			t.Fatalf("Build of %q wrote %q, which does not parse: %v", s, built, err)
		}
		if !reflect.DeepEqual(again, cs) {
			t.Fatalf("round trip of %q through %q:\ngot  %#v\nwant %#v", s, built, *again, *cs)
		}
		// String does not depend on the secrets.
		d := *cs
		if d.SharedAccessKey != "" {
			d.SharedAccessKey = canary
		}
		if d.SharedAccessSignature != "" {
			d.SharedAccessSignature = canary
		}
		if cs.String() != d.String() {
			t.Fatalf("String() depends on the secrets: %q vs %q", cs.String(), d.String())
		}
		if strings.Contains(d.String(), canary) {
			t.Fatalf("String() shows a secret: %q", d.String())
		}
		// Parsing is not affected by the secrets' values either.
		if len(secrets) > 0 {
			r, err := ParseConnectionString(replaced)
			if err != nil {
				t.Fatalf("ParseConnectionString(%q) succeeds, but fails with the secrets replaced (%q): %v", s, replaced, err)
			}
			if r.Endpoint != cs.Endpoint || r.EntityPath != cs.EntityPath || r.SharedAccessKeyName != cs.SharedAccessKeyName {
				t.Fatalf("replacing the secrets of %q changed the rest: %v vs %v", s, r, cs)
			}
		}
	})
}

// TestFuzzHelperSecretValues checks the fuzz test's helper.
func TestFuzzHelperSecretValues(t *testing.T) {
	secrets, replaced := utSecretValues(utPortal+"; sharedaccesssignature = "+utSig+" ;SharedAccessKey=short", "C")
	if !reflect.DeepEqual(secrets, []string{utKey, utSig}) {
		t.Errorf("secrets = %q", secrets)
	}
	want := "Endpoint=" + utEndpoint + ";SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=C;EntityPath=hub; sharedaccesssignature =C;SharedAccessKey=short"
	if replaced != want {
		t.Errorf("replaced = %q\nwant       %q", replaced, want)
	}
	if c := utCanary("xxCaNaRy0xyy"); len(c) < 8 || strings.Contains("xxCaNaRy0xyy", c) {
		t.Errorf("utCanary = %q", c)
	}
}

func FuzzParseEventPosition(f *testing.F) {
	for _, s := range []string{
		"earliest", "latest", "start", "end", "EARLIEST",
		"seq:0", "seq:5", "seq:>5", "seq:>-1", "seq:+7", "SEQ:9223372036854775807",
		"offset:100", "offset:>100", "offset:-1", "offset:>>5", "offset:a=b,c",
		"time:2026-11-25T10:00:00Z", "time:2026-11-25T10:00:00.123456789+01:00", "time:0001-01-01T00:00:00+01:00",
		"", "seq:abc", "seq:-5", "time:yesterday", "time:>2026-01-01T00:00:00Z", "offset:", "offset: 5", "bogus:1", ":",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseEventPosition(s)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeInvalidConf {
				t.Fatalf("ParseEventPosition(%q): error %v is not an *Error with code %s", s, err, CodeInvalidConf)
			}
			if !p.Equal(EventPosition{}) {
				t.Fatalf("ParseEventPosition(%q) = %v along with an error", s, p)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("ParseEventPosition(%q) = %v, which does not Validate: %v", s, p, err)
		}
		text := p.String()
		q, err := ParseEventPosition(text)
		if err != nil {
			t.Fatalf("ParseEventPosition(%q) = %v, whose String %q does not parse: %v", s, p, text, err)
		}
		if !q.Equal(p) {
			t.Fatalf("ParseEventPosition(%q) = %v, but its String %q parses to %v", s, p, text, q)
		}
		if q.String() != text {
			t.Fatalf("String is not stable: %q, then %q", text, q.String())
		}
		b, err := p.MarshalText()
		if err != nil || string(b) != text {
			t.Fatalf("MarshalText of %v = %q, %v; want %q", p, b, err, text)
		}
	})
}
