package eventhubs

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Distinctive secrets: if one of them shows up in an error message or in
// String(), it leaked.
const (
	utKey = "Zm9vYmFyU2VjcmV0S2V5VmFsdWUxMjM0NTY3ODkwQUI="
	// utSigMark is the part of utSig that is secret beyond doubt.
	utSigMark = "SiGnAtUrE0123456789abcdefXYZ"
	utSig     = "SharedAccessSignature sr=sb%3a%2f%2fns.servicebus.windows.net%2fhub&sig=" + utSigMark + "%3d&se=1900000000&skn=send"
	// utPastedKey is a key pasted without its "SharedAccessKey=" prefix.
	utPastedKey = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefg="

	utEndpoint = "sb://ns.servicebus.windows.net/"
	utPortal   = "Endpoint=" + utEndpoint + ";SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=" + utKey + ";EntityPath=hub"
	utSAS      = "Endpoint=" + utEndpoint + ";SharedAccessSignature=" + utSig + ";EntityPath=hub"
	utEmulator = "Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true"
	utIoTHub   = "Endpoint=sb://iothub-ns-myhub-1234567-0123abcdef.servicebus.windows.net/;SharedAccessKeyName=iothubowner;SharedAccessKey=" + utKey + ";EntityPath=myhub"
	// utIoTService is an IoT Hub service connection string, which is not
	// an Event Hubs one.
	utIoTService = "HostName=myhub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=" + utKey
)

// utAsError returns err as an *Error with the code, or fails the test.
func utAsError(t *testing.T, err error, code ErrorCode) *Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one with code %s", code)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	if e.Code != code {
		t.Fatalf("error %q has code %s, want %s", err, e.Code, code)
	}
	return e
}

// utNoSecret fails if s contains one of the test secrets.
func utNoSecret(t *testing.T, what, s string) {
	t.Helper()
	for _, secret := range []string{utKey, strings.TrimRight(utKey, "="), utSig, utSigMark, utPastedKey, strings.TrimRight(utPastedKey, "=")} {
		if strings.Contains(s, secret) {
			t.Errorf("%s leaks the secret %q: %s", what, secret, s)
		}
	}
}

func TestParseConnectionString(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		want      ConnectionString
		namespace string
	}{
		{"portal", utPortal, ConnectionString{Endpoint: utEndpoint,
			SharedAccessKeyName: "RootManageSharedAccessKey", SharedAccessKey: utKey, EntityPath: "hub"}, "ns.servicebus.windows.net"},
		{"portal without EntityPath", "Endpoint=" + utEndpoint + ";SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=" + utKey,
			ConnectionString{Endpoint: utEndpoint, SharedAccessKeyName: "RootManageSharedAccessKey", SharedAccessKey: utKey}, "ns.servicebus.windows.net"},
		{"SAS signature", utSAS, ConnectionString{Endpoint: utEndpoint, SharedAccessSignature: utSig, EntityPath: "hub"}, "ns.servicebus.windows.net"},
		{"emulator", utEmulator, ConnectionString{Endpoint: "sb://127.0.0.1:5672", SharedAccessKeyName: "RootManageSharedAccessKey",
			SharedAccessKey: "SAS_KEY_VALUE", UseDevelopmentEmulator: true}, "127.0.0.1:5672"},
		{"emulator false", "Endpoint=sb://localhost:5672;SharedAccessKeyName=a;SharedAccessKey=b;UseDevelopmentEmulator=false",
			ConnectionString{Endpoint: "sb://localhost:5672", SharedAccessKeyName: "a", SharedAccessKey: "b"}, "localhost:5672"},
		{"IoT Hub Event Hub-compatible endpoint", utIoTHub, ConnectionString{
			Endpoint:            "sb://iothub-ns-myhub-1234567-0123abcdef.servicebus.windows.net/",
			SharedAccessKeyName: "iothubowner", SharedAccessKey: utKey, EntityPath: "myhub"},
			"iothub-ns-myhub-1234567-0123abcdef.servicebus.windows.net"},
		{"case-insensitive keys", "endpoint=" + utEndpoint + ";SHAREDACCESSKEYNAME=Root;sharedAccessKey=" + utKey +
			";entitypath=Hub;usedevelopmentemulator=TRUE;operationtimeout=pt2m",
			ConnectionString{Endpoint: utEndpoint, SharedAccessKeyName: "Root", SharedAccessKey: utKey, EntityPath: "Hub",
				UseDevelopmentEmulator: true, OperationTimeout: 2 * time.Minute}, "ns.servicebus.windows.net"},
		{"trailing semicolon and spaces", " Endpoint = " + utEndpoint + " ; SharedAccessKeyName=Root;SharedAccessKey=" + utKey + ";EntityPath=hub;",
			ConnectionString{Endpoint: utEndpoint, SharedAccessKeyName: "Root", SharedAccessKey: utKey, EntityPath: "hub"}, "ns.servicebus.windows.net"},
		{"empty parts", ";;" + utPortal + ";;",
			ConnectionString{Endpoint: utEndpoint, SharedAccessKeyName: "RootManageSharedAccessKey", SharedAccessKey: utKey, EntityPath: "hub"},
			"ns.servicebus.windows.net"},
		{"keys in any order", "EntityPath=hub;SharedAccessKey=" + utKey + ";SharedAccessKeyName=Root;Endpoint=" + utEndpoint,
			ConnectionString{Endpoint: utEndpoint, SharedAccessKeyName: "Root", SharedAccessKey: utKey, EntityPath: "hub"}, "ns.servicebus.windows.net"},
		{"OperationTimeout Go", utPortal + ";OperationTimeout=60s", ConnectionString{Endpoint: utEndpoint,
			SharedAccessKeyName: "RootManageSharedAccessKey", SharedAccessKey: utKey, EntityPath: "hub", OperationTimeout: time.Minute},
			"ns.servicebus.windows.net"},
		{"OperationTimeout ISO 8601", utPortal + ";OperationTimeout=PT1M", ConnectionString{Endpoint: utEndpoint,
			SharedAccessKeyName: "RootManageSharedAccessKey", SharedAccessKey: utKey, EntityPath: "hub", OperationTimeout: time.Minute},
			"ns.servicebus.windows.net"},
		{"OperationTimeout TimeSpan", utPortal + ";OperationTimeout=00:01:00", ConnectionString{Endpoint: utEndpoint,
			SharedAccessKeyName: "RootManageSharedAccessKey", SharedAccessKey: utKey, EntityPath: "hub", OperationTimeout: time.Minute},
			"ns.servicebus.windows.net"},
		{"endpoint without trailing slash", "Endpoint=sb://ns.servicebus.windows.net;SharedAccessKeyName=a;SharedAccessKey=b",
			ConnectionString{Endpoint: "sb://ns.servicebus.windows.net", SharedAccessKeyName: "a", SharedAccessKey: "b"}, "ns.servicebus.windows.net"},
		{"IPv6 emulator", "Endpoint=sb://[::1]:5672;SharedAccessKeyName=a;SharedAccessKey=b;UseDevelopmentEmulator=true",
			ConnectionString{Endpoint: "sb://[::1]:5672", SharedAccessKeyName: "a", SharedAccessKey: "b", UseDevelopmentEmulator: true}, "[::1]:5672"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, err := ParseConnectionString(tt.in)
			if err != nil {
				t.Fatalf("ParseConnectionString: %v", err)
			}
			if !reflect.DeepEqual(*cs, tt.want) {
				t.Errorf("got  %#v\nwant %#v", *cs, tt.want)
			}
			if got := cs.Namespace(); got != tt.namespace {
				t.Errorf("Namespace() = %q, want %q", got, tt.namespace)
			}
			if err := cs.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}

			// Round trip: parse → Build → parse.
			built, err := cs.Build()
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			again, err := ParseConnectionString(built)
			if err != nil {
				t.Fatalf("parse the built string %q: %v", built, err)
			}
			if !reflect.DeepEqual(again, cs) {
				t.Errorf("round trip through %q:\ngot  %#v\nwant %#v", built, *again, *cs)
			}
			// Build is deterministic and stable.
			if built2, _ := again.Build(); built2 != built {
				t.Errorf("Build after round trip = %q, want %q", built2, built)
			}
		})
	}
}

func TestConnectionStringBuild(t *testing.T) {
	tests := []struct {
		name string
		cs   ConnectionString
		want string
	}{
		{"portal", ConnectionString{Endpoint: utEndpoint, SharedAccessKeyName: "Root", SharedAccessKey: utKey, EntityPath: "hub"},
			"Endpoint=" + utEndpoint + ";SharedAccessKeyName=Root;SharedAccessKey=" + utKey + ";EntityPath=hub"},
		{"signature", ConnectionString{Endpoint: utEndpoint, SharedAccessSignature: utSig},
			"Endpoint=" + utEndpoint + ";SharedAccessSignature=" + utSig},
		{"everything", ConnectionString{Endpoint: "sb://localhost:5672", SharedAccessKeyName: "n", SharedAccessKey: "k",
			EntityPath: "h", UseDevelopmentEmulator: true, OperationTimeout: 90 * time.Second},
			"Endpoint=sb://localhost:5672;SharedAccessKeyName=n;SharedAccessKey=k;EntityPath=h;UseDevelopmentEmulator=true;OperationTimeout=1m30s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cs.Build()
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if got != tt.want {
				t.Errorf("Build() = %q, want %q", got, tt.want)
			}
			back, err := ParseConnectionString(got)
			if err != nil {
				t.Fatalf("parse %q: %v", got, err)
			}
			if !reflect.DeepEqual(*back, tt.cs) {
				t.Errorf("parse(Build()) = %#v, want %#v", *back, tt.cs)
			}
			s := tt.cs.String()
			utNoSecret(t, "String()", s)
			if (tt.cs.SharedAccessKey != "" || tt.cs.SharedAccessSignature != "") && !strings.Contains(s, "REDACTED") {
				t.Errorf("String() = %q, want the secret shown as REDACTED", s)
			}
			if !strings.Contains(s, tt.cs.Endpoint) {
				t.Errorf("String() = %q, want it to show the endpoint %q", s, tt.cs.Endpoint)
			}
		})
	}
}

func TestConnectionStringStringRedacts(t *testing.T) {
	for _, in := range []string{utPortal, utSAS, utIoTHub} {
		cs, err := ParseConnectionString(in)
		if err != nil {
			t.Fatalf("ParseConnectionString: %v", err)
		}
		//lint:ignore S1025 each way of printing a ConnectionString is the point
		for _, s := range []string{cs.String(), fmt.Sprint(cs), fmt.Sprintf("%v", cs), fmt.Sprintf("%+v", cs), fmt.Sprintf("%s", cs)} {
			utNoSecret(t, "String()", s)
			if !strings.Contains(s, "REDACTED") {
				t.Errorf("String() = %q, want REDACTED in place of the secret", s)
			}
			if !strings.Contains(s, "Endpoint="+cs.Endpoint) || !strings.Contains(s, "EntityPath="+cs.EntityPath) {
				t.Errorf("String() = %q, want the endpoint and entity path shown", s)
			}
		}
		// The redacted form parses, with the placeholder as the secret.
		back, err := ParseConnectionString(cs.String())
		if err != nil {
			t.Fatalf("parse String() %q: %v", cs.String(), err)
		}
		if back.Endpoint != cs.Endpoint || back.EntityPath != cs.EntityPath {
			t.Errorf("parse(String()) = %v, want endpoint and entity path of %v", back, cs)
		}
	}
}

func TestParseConnectionStringErrors(t *testing.T) {
	const ep = "Endpoint=" + utEndpoint
	const cred = ";SharedAccessKeyName=Root;SharedAccessKey=" + utKey
	tests := []struct {
		name string
		in   string
		want []string // fragments the message must contain
	}{
		{"empty", "", []string{"empty"}},
		{"blank", "  \t ", []string{"empty"}},
		{"missing Endpoint", "SharedAccessKeyName=Root;SharedAccessKey=" + utKey + ";EntityPath=hub", []string{"Endpoint", "missing"}},
		{"only separators", ";;;", []string{"Endpoint", "missing"}},
		{"bad scheme https", "Endpoint=https://ns.servicebus.windows.net/" + cred, []string{"Endpoint=", "sb://"}},
		{"bad scheme amqps", "Endpoint=amqps://ns.servicebus.windows.net/" + cred, []string{"Endpoint=", "amqps://ns.servicebus.windows.net/"}},
		{"no scheme", "Endpoint=ns.servicebus.windows.net" + cred, []string{"Endpoint=", "ns.servicebus.windows.net"}},
		{"no host", "Endpoint=sb://" + cred, []string{"Endpoint="}},
		{"path", "Endpoint=sb://ns.servicebus.windows.net/hub" + cred, []string{"Endpoint=", "/hub"}},
		{"query", "Endpoint=sb://ns.servicebus.windows.net/?x=1" + cred, []string{"Endpoint="}},
		{"port too big", "Endpoint=sb://127.0.0.1:70000" + cred, []string{"Endpoint=", "port", "70000"}},
		{"port zero", "Endpoint=sb://127.0.0.1:0" + cred, []string{"Endpoint=", "port", `"0"`}},
		{"port not a number", "Endpoint=sb://127.0.0.1:abc" + cred, []string{"Endpoint="}},
		{"missing key name", ep + ";SharedAccessKey=" + utKey, []string{"SharedAccessKeyName", "missing"}},
		{"missing key", ep + ";SharedAccessKeyName=Root", []string{"SharedAccessKey is missing", `"Root"`}},
		{"no credentials", ep + ";EntityPath=hub", []string{"SharedAccessKeyName", "SharedAccessKey", "SharedAccessSignature"}},
		{"key and signature", ep + cred + ";SharedAccessSignature=" + utSig, []string{"both", "SharedAccessKey", "SharedAccessSignature"}},
		{"unknown key", ep + cred + ";Foo=bar", []string{"unknown key", `"Foo"`, "EntityPath"}},
		{"unknown key with typo", ep + cred + ";EntityPth=hub", []string{"unknown key", `"EntityPth"`}},
		{"duplicate key", ep + cred + ";EntityPath=a;EntityPath=b", []string{"EntityPath", "twice"}},
		{"duplicate key differing in case", ep + cred + ";entitypath=a;ENTITYPATH=b", []string{"EntityPath", "twice"}},
		{"duplicate secret", ep + cred + ";SharedAccessKey=" + utKey, []string{"SharedAccessKey", "twice"}},
		{"empty value", ep + cred + ";EntityPath=", []string{"EntityPath", "empty value"}},
		{"empty value with spaces", ep + cred + ";EntityPath=   ", []string{"EntityPath", "empty value"}},
		{"empty endpoint", "Endpoint=" + cred, []string{"Endpoint", "empty value"}},
		{"part without =", ep + ";justtext" + cred, []string{"part 2", "'='"}},
		{"bad UseDevelopmentEmulator", utEmulator[:strings.LastIndex(utEmulator, "=")+1] + "yes", []string{"UseDevelopmentEmulator", `"yes"`}},
		{"bad OperationTimeout", utPortal + ";OperationTimeout=soon", []string{"OperationTimeout", `"soon"`}},
		{"zero OperationTimeout", utPortal + ";OperationTimeout=0s", []string{"OperationTimeout", `"0s"`}},
		{"negative OperationTimeout", utPortal + ";OperationTimeout=-5s", []string{"OperationTimeout", `"-5s"`}},
		{"bad TimeSpan OperationTimeout", utPortal + ";OperationTimeout=00:61:00", []string{"OperationTimeout", `"00:61:00"`}},
		{"EntityPath with slash", ep + cred + ";EntityPath=a/b", []string{"EntityPath", `"a/b"`}},
		{"IoT Hub service string", utIoTService, []string{"IoT Hub", "Event Hub-compatible endpoint"}},
		{"IoT Hub service string lower case", "hostname=myhub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=" + utKey,
			[]string{"Event Hub-compatible endpoint"}},
		{"IoT Hub with device", "HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessKey=" + utKey,
			[]string{"Event Hub-compatible endpoint"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, err := ParseConnectionString(tt.in)
			if cs != nil {
				t.Errorf("got %v along with the error, want nil", cs)
			}
			e := utAsError(t, err, CodeInvalidConnectionString)
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(e.Message, w) {
					t.Errorf("message %q does not contain %q", e.Message, w)
				}
			}
			if !strings.Contains(msg, string(CodeInvalidConnectionString)) {
				t.Errorf("Error() = %q, want the code in it", msg)
			}
			if !HasCode(err, CodeInvalidConnectionString) {
				t.Errorf("HasCode(%v, %s) = false", err, CodeInvalidConnectionString)
			}
			utNoSecret(t, "error", msg)
		})
	}
}

// TestConnectionStringNeverLeaksSecrets feeds strings holding secrets in
// every wrong way we can think of: no error message and no String() may
// show them.
func TestConnectionStringNeverLeaksSecrets(t *testing.T) {
	const ep = "Endpoint=" + utEndpoint
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{"portal", utPortal, false},
		{"signature", utSAS, false},
		{"IoT Hub endpoint", utIoTHub, false},
		{"key pasted without its prefix", ep + ";SharedAccessKeyName=Root;" + utPastedKey + ";EntityPath=hub", true},
		{"key pasted without prefix or padding", ep + ";SharedAccessKeyName=Root;" + strings.TrimRight(utPastedKey, "=") + ";EntityPath=hub", true},
		{"key pasted with double padding", ep + ";SharedAccessKeyName=Root;" + utPastedKey + "=;EntityPath=hub", true},
		{"key pasted first", utPastedKey + ";" + ep + ";SharedAccessKeyName=Root", true},
		{"signature pasted without its prefix", ep + ";" + utSig + ";EntityPath=hub", true},
		{"key without name", ep + ";SharedAccessKey=" + utKey, true},
		{"key and signature", ep + ";SharedAccessKeyName=Root;SharedAccessKey=" + utKey + ";SharedAccessSignature=" + utSig, true},
		{"key twice", ep + ";SharedAccessKeyName=Root;SharedAccessKey=" + utKey + ";SharedAccessKey=" + utPastedKey, true},
		{"signature twice", ep + ";SharedAccessSignature=" + utSig + ";SharedAccessSignature=" + utSig, true},
		{"key with bad endpoint", "Endpoint=https://ns/;SharedAccessKeyName=Root;SharedAccessKey=" + utKey, true},
		{"key with bad port", "Endpoint=sb://ns:99999;SharedAccessKeyName=Root;SharedAccessKey=" + utKey, true},
		{"key in endpoint user info", "Endpoint=sb://Root:" + utKey + "@ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=" + utKey, true},
		{"key in endpoint query", "Endpoint=sb://ns.servicebus.windows.net/?key=" + utKey + ";SharedAccessKeyName=Root;SharedAccessKey=" + utKey, true},
		{"signature in endpoint fragment", "Endpoint=sb://ns.servicebus.windows.net/#" + utSigMark + ";SharedAccessSignature=" + utSig, true},
		{"key with missing endpoint", "SharedAccessKeyName=Root;SharedAccessKey=" + utKey, true},
		{"key with unknown key", utPortal + ";Bogus=1", true},
		{"key with bad timeout", utPortal + ";OperationTimeout=forever", true},
		{"key with bad emulator flag", utPortal + ";UseDevelopmentEmulator=maybe", true},
		{"key with bad entity path", "Endpoint=" + utEndpoint + ";SharedAccessKeyName=Root;SharedAccessKey=" + utKey + ";EntityPath=a/b", true},
		{"IoT Hub service string", utIoTService, true},
		{"signature with missing endpoint", "SharedAccessSignature=" + utSig, true},
		{"signature with part without =", utSAS + ";oops", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, err := ParseConnectionString(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseConnectionString error = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				utAsError(t, err, CodeInvalidConnectionString)
				utNoSecret(t, "error", err.Error())
				// Through a Conf too.
				c := NewConf(tt.in)
				verr := c.Validate()
				if verr == nil {
					t.Fatalf("Conf.Validate accepted a bad connection string")
				}
				utNoSecret(t, "Conf.Validate error", verr.Error())
				utNoSecret(t, "Conf.String()", c.String())
				return
			}
			utNoSecret(t, "String()", cs.String())
			utNoSecret(t, "Conf.String()", NewConf(tt.in).String())
		})
	}

	// Structs that never went through the parser: Validate and Build errors
	// do not print the secrets either, and neither does String.
	structs := []ConnectionString{
		{Endpoint: utEndpoint, SharedAccessKeyName: "Root", SharedAccessKey: utKey + ";x"},
		{Endpoint: utEndpoint, SharedAccessKeyName: "Root", SharedAccessKey: " " + utKey},
		{Endpoint: utEndpoint, SharedAccessSignature: utSig + " "},
		{Endpoint: utEndpoint, SharedAccessSignature: utSig, SharedAccessKey: utKey},
		{Endpoint: utEndpoint, SharedAccessKey: utKey},
		{Endpoint: "http://x", SharedAccessKeyName: "Root", SharedAccessKey: utKey},
		{SharedAccessKeyName: "Root", SharedAccessKey: utKey},
		{Endpoint: utEndpoint, SharedAccessKeyName: "Root", SharedAccessKey: utKey, OperationTimeout: -time.Second},
	}
	for i, cs := range structs {
		err := cs.Validate()
		utAsError(t, err, CodeInvalidConnectionString)
		utNoSecret(t, fmt.Sprintf("struct %d: Validate error", i), err.Error())
		s, err := cs.Build()
		if s != "" || err == nil {
			t.Errorf("struct %d: Build() = %q, %v; want an error", i, s, err)
		} else {
			utNoSecret(t, fmt.Sprintf("struct %d: Build error", i), err.Error())
		}
		utNoSecret(t, fmt.Sprintf("struct %d: String()", i), cs.String())
	}
}

func TestConnectionStringValidate(t *testing.T) {
	good := []ConnectionString{
		{Endpoint: utEndpoint, SharedAccessKeyName: "Root", SharedAccessKey: "k"},
		{Endpoint: "SB://NS.servicebus.windows.net/", SharedAccessKeyName: "Root", SharedAccessKey: "k"},
		{Endpoint: "sb://localhost:1", SharedAccessKeyName: "Root", SharedAccessKey: "k"},
		{Endpoint: "sb://localhost:65535", SharedAccessKeyName: "Root", SharedAccessKey: "k"},
		{Endpoint: utEndpoint, SharedAccessSignature: "sig"},
		{Endpoint: utEndpoint, SharedAccessKeyName: "Root", SharedAccessSignature: "sig"},
		{Endpoint: utEndpoint, SharedAccessKeyName: "Root", SharedAccessKey: "k", EntityPath: "my-hub.1_x"},
	}
	for _, cs := range good {
		if err := cs.Validate(); err != nil {
			t.Errorf("%#v: Validate: %v", cs, err)
			continue
		}
		// Whatever Validate accepts, Build writes a string that parses
		// back to the same struct.
		s, err := cs.Build()
		if err != nil {
			t.Errorf("%#v: Build: %v", cs, err)
			continue
		}
		back, err := ParseConnectionString(s)
		if err != nil {
			t.Errorf("%#v: parse(Build()) %q: %v", cs, s, err)
			continue
		}
		if !reflect.DeepEqual(*back, cs) {
			t.Errorf("parse(Build()) = %#v, want %#v", *back, cs)
		}
	}

	bad := []struct {
		cs   ConnectionString
		want string
	}{
		{ConnectionString{SharedAccessKeyName: "Root", SharedAccessKey: "k"}, "Endpoint is missing"},
		{ConnectionString{Endpoint: "sb://localhost:65536", SharedAccessKeyName: "Root", SharedAccessKey: "k"}, "port"},
		{ConnectionString{Endpoint: "sb://user@ns/", SharedAccessKeyName: "Root", SharedAccessKey: "k"}, "Endpoint="},
		// A ';' in the endpoint would make Build write a string that does
		// not parse.
		{ConnectionString{Endpoint: "sb://a;b/", SharedAccessKeyName: "Root", SharedAccessKey: "k"}, "Endpoint="},
		{ConnectionString{Endpoint: utEndpoint, SharedAccessKeyName: "Root"}, "SharedAccessKey is missing"},
		{ConnectionString{Endpoint: utEndpoint, SharedAccessKey: "k"}, "SharedAccessKeyName is missing"},
		{ConnectionString{Endpoint: utEndpoint}, "no credentials"},
		{ConnectionString{Endpoint: utEndpoint, SharedAccessKey: "k", SharedAccessSignature: "s"}, "both"},
		{ConnectionString{Endpoint: utEndpoint, SharedAccessSignature: "s", EntityPath: "a;b"}, "EntityPath"},
		{ConnectionString{Endpoint: utEndpoint, SharedAccessSignature: "s", EntityPath: " hub"}, "EntityPath"},
		{ConnectionString{Endpoint: utEndpoint, SharedAccessKeyName: "Ro;ot", SharedAccessKey: "k"}, "SharedAccessKeyName"},
		{ConnectionString{Endpoint: utEndpoint, SharedAccessKeyName: "Root", SharedAccessKey: "k;"}, "SharedAccessKey holds"},
		{ConnectionString{Endpoint: utEndpoint, SharedAccessSignature: " s"}, "SharedAccessSignature"},
		{ConnectionString{Endpoint: utEndpoint, SharedAccessSignature: "s", OperationTimeout: -time.Second}, "OperationTimeout"},
	}
	for _, tt := range bad {
		err := tt.cs.Validate()
		e := utAsError(t, err, CodeInvalidConnectionString)
		if !strings.Contains(e.Message, tt.want) {
			t.Errorf("%#v: Validate message %q does not contain %q", tt.cs, e.Message, tt.want)
		}
		if s, err := tt.cs.Build(); err == nil {
			t.Errorf("%#v: Build() = %q, want an error", tt.cs, s)
		}
	}
}

func TestConnectionStringNamespace(t *testing.T) {
	tests := []struct{ endpoint, want string }{
		{utEndpoint, "ns.servicebus.windows.net"},
		{"sb://ns.servicebus.windows.net", "ns.servicebus.windows.net"},
		{"sb://127.0.0.1:5672", "127.0.0.1:5672"},
		{"sb://localhost:5672/", "localhost:5672"},
		{"", ""},
		{"sb://h:abc", ""},
	}
	for _, tt := range tests {
		cs := ConnectionString{Endpoint: tt.endpoint}
		if got := cs.Namespace(); got != tt.want {
			t.Errorf("Namespace of %q = %q, want %q", tt.endpoint, got, tt.want)
		}
	}
}

func TestConnectionStringForSDK(t *testing.T) {
	cs, err := ParseConnectionString(utPortal + ";OperationTimeout=PT5M")
	if err != nil {
		t.Fatal(err)
	}
	s := cs.forSDK()
	if strings.Contains(s, "OperationTimeout") {
		t.Errorf("forSDK() = %q, want no OperationTimeout", s)
	}
	if !strings.Contains(s, "SharedAccessKey="+utKey) {
		t.Errorf("forSDK() lacks the key the SDK needs")
	}
	if cs.OperationTimeout != 5*time.Minute {
		t.Errorf("forSDK changed the connection string: OperationTimeout = %s", cs.OperationTimeout)
	}
}

func TestParseTimeout(t *testing.T) {
	good := []struct {
		in   string
		want time.Duration
	}{
		{"60s", time.Minute},
		{"1m30s", 90 * time.Second},
		{"250ms", 250 * time.Millisecond},
		{"2h", 2 * time.Hour},
		{"PT1M", time.Minute},
		{"pt1m", time.Minute},
		{"PT30S", 30 * time.Second},
		{"PT1H30M", 90 * time.Minute},
		{"PT1.5S", 1500 * time.Millisecond},
		{"00:01:00", time.Minute},
		{"01:00:00", time.Hour},
		{"1:02:03", time.Hour + 2*time.Minute + 3*time.Second},
		{"00:00:01.5", 1500 * time.Millisecond},
		{"00:00:00.001", time.Millisecond},
		{"48:00:00", 48 * time.Hour},
		{"2562046:00:00", 2562046 * time.Hour},
	}
	for _, tt := range good {
		got, err := parseTimeout(tt.in)
		if err != nil {
			t.Errorf("parseTimeout(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("parseTimeout(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	bad := []string{
		"", "0", "0s", "-1s", "-1m", "soon", "60", "PT", "PT0S", "PT-5S", "P1D", "PTxS",
		"00:00:00", "00:60:00", "00:00:60", "-1:00:00", "00:-1:00", "00:00:-1",
		"1:2", "1:2:3:4", "a:b:c", "00:00:NaN", "00:00:Inf",
		// Hours that overflow a time.Duration must not wrap around.
		"6000000:00:00", "2562048:00:00", "99999999999:00:00",
	}
	for _, in := range bad {
		d, err := parseTimeout(in)
		if err == nil {
			t.Errorf("parseTimeout(%q) = %s, want an error", in, d)
			continue
		}
		if d != 0 {
			t.Errorf("parseTimeout(%q) = %s with an error, want 0", in, d)
		}
		if msg := err.Error(); !strings.Contains(msg, "positive") {
			t.Errorf("parseTimeout(%q) error %q does not say what it wants", in, msg)
		}
	}
}
