package eventhubs

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
)

// fakeCredential is never asked for a token here: these tests check what
// a Conf says, not a sign-in.
type fakeCredential struct{ name string }

func (f *fakeCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, nil
}

// valueCredential is a credential that is not a pointer.
type valueCredential struct{}

func (valueCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, nil
}

func TestNewConfWithCredential(t *testing.T) {
	cred := &fakeCredential{}
	c := NewConfWithCredential("myns.servicebus.windows.net", "telemetry", cred)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.EventHubName() != "telemetry" || c.Credential() != cred || c.ConsumerGroup() != DefaultConsumerGroup {
		t.Errorf("conf %s", c)
	}
	// The namespace as a connection string to it names it.
	viaConnStr := NewConf("Endpoint=sb://myns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=a2V5;EntityPath=telemetry")
	for _, f := range []func(*Conf) (string, error){(*Conf).FullyQualifiedNamespace, (*Conf).NamespaceHost} {
		a, errA := f(c)
		b, errB := f(viaConnStr)
		if a != b || a != "myns.servicebus.windows.net" || errA != nil || errB != nil {
			t.Errorf("credential %q %v, connection string %q %v", a, errA, b, errB)
		}
	}
	if host, err := NewConfWithCredential("localhost:5671", "eh1", cred).NamespaceHost(); host != "localhost" || err != nil {
		t.Errorf("NamespaceHost of localhost:5671: %q %v", host, err)
	}
	if _, err := c.ConnectionString(); !HasCode(err, CodeInvalidConnectionString) || !strings.Contains(err.Error(), "signs in with a TokenCredential") {
		t.Errorf("ConnectionString: %v", err)
	}
	m := c.ToMap()
	if _, has := m[confConnectionString]; has || m[confNamespace] != "myns.servicebus.windows.net" {
		t.Errorf("ToMap: %v", m)
	}
	if s := c.String(); !strings.Contains(s, "eventhubs.namespace=myns.servicebus.windows.net") || strings.Contains(s, "connectionString") {
		t.Errorf("String: %s", s)
	}
	d := c.Clone().SetConsumerGroup("other")
	if d.Credential() != cred || c.ConsumerGroup() != DefaultConsumerGroup {
		t.Errorf("Clone: %s", d)
	}
}

// TestCredentialConfProblems: Validate and ConfFromMap say what is wrong
// with a namespace, and that a map cannot carry the credential.
func TestCredentialConfProblems(t *testing.T) {
	cred := &fakeCredential{}
	for _, tc := range []struct {
		conf *Conf
		want string
	}{
		{NewConfWithCredential("", "eh1", cred), "namespace is empty: want the host alone"},
		{NewConfWithCredential("sb://myns.servicebus.windows.net/", "eh1", cred), `namespace "sb://myns.servicebus.windows.net/": want the host alone, such as NAME.servicebus.windows.net (no sb:// or https://, no path)`},
		{NewConfWithCredential("https://myns.servicebus.windows.net", "eh1", cred), "no sb:// or https://"},
		{NewConfWithCredential("myns.servicebus.windows.net/eh1", "eh1", cred), "no path"},
		{NewConfWithCredential("localhost:99999", "eh1", cred), `port "99999" is not a number`},
		{NewConfWithCredential("myns.servicebus.windows.net", "", cred), "no event hub"},
		{NewConfWithCredential("myns.servicebus.windows.net", "eh1", nil), `namespace "myns.servicebus.windows.net" has no credential`},
	} {
		err := tc.conf.Validate()
		if !HasCode(err, CodeInvalidConf) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.conf, err, tc.want)
		}
	}
	_, err := ConfFromMap(NewConfWithCredential("myns.servicebus.windows.net", "eh1", cred).ToMap())
	if err == nil || !strings.Contains(err.Error(), "has no credential: give NewConfWithCredential one (a TokenCredential cannot be written in ConfFromMap's map)") {
		t.Errorf("ConfFromMap of a credential Conf's map: %v", err)
	}
	m := map[string]string{confNamespace: "myns.servicebus.windows.net", confConnectionString: "Endpoint=sb://x/;SharedAccessKeyName=k;SharedAccessKey=a2V5", confName: "eh1"}
	if _, err := ConfFromMap(m); err == nil || !strings.Contains(err.Error(), "both a connection string and a namespace") {
		t.Errorf("ConfFromMap with both: %v", err)
	}
}

// TestClientOptions: the user's options reach the SDK's, with the pool's
// retry delays where the user set none and no SDK retries on management
// and probing clients; the pool tells apart credentials and options.
func TestClientOptions(t *testing.T) {
	tlsConf := &tls.Config{ServerName: "emulator.test"}
	user := &azeventhubs.ConsumerClientOptions{TLSConfig: tlsConf, CustomEndpoint: "127.0.0.1:5671", InstanceID: "i1",
		RetryOptions: azeventhubs.RetryOptions{MaxRetries: 7, RetryDelay: time.Second}}
	c := NewConfWithCredential("myns.servicebus.windows.net", "eh1", &fakeCredential{}).SetClientOptions(user)
	user.CustomEndpoint = "changed after" // SetClientOptions copied it
	o := mustPoolOptions(t, c, false)
	if o.TLSConfig != tlsConf || o.CustomEndpoint != "127.0.0.1:5671" || o.InstanceID != "i1" || o.ApplicationID != DefaultApplicationID ||
		o.RetryOptions != (azeventhubs.RetryOptions{MaxRetries: 7, RetryDelay: time.Second, MaxRetryDelay: 4 * time.Second}) {
		t.Errorf("receivers' options: %+v", o)
	}
	if o := mustPoolOptions(t, c, true); o.RetryOptions.MaxRetries != -1 || o.CustomEndpoint != "127.0.0.1:5671" {
		t.Errorf("management options: %+v", o)
	}
	if o := mustPoolOptions(t, NewConf("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=v;EntityPath=eh1"), false); o.RetryOptions != (azeventhubs.RetryOptions{RetryDelay: 200 * time.Millisecond, MaxRetryDelay: 4 * time.Second}) || o.TLSConfig != nil {
		t.Errorf("default options: %+v", o)
	}
	if got := c.SetClientOptions(&azeventhubs.ConsumerClientOptions{ApplicationID: "mine"}).ClientOptions(); got.ApplicationID != "mine" || mustPoolOptions(t, c, false).ApplicationID != "mine" {
		t.Errorf("ApplicationID: %+v", got)
	}

	key := func(c *Conf) clientKey {
		k, err := keyOf(c, false)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	a, b := &fakeCredential{name: "a"}, &fakeCredential{name: "a"}
	ca := NewConfWithCredential("ns.servicebus.windows.net", "eh1", a)
	if key(ca) != key(ca.Clone()) || key(ca) == key(NewConfWithCredential("ns.servicebus.windows.net", "eh1", b)) {
		t.Error("the pool's keys tell credentials apart by identity, and a Clone shares its Conf's")
	}
	if key(ca) == key(ca.Clone().SetClientOptions(&azeventhubs.ConsumerClientOptions{CustomEndpoint: "127.0.0.1:1"})) {
		t.Error("other client options share a connection")
	}
	v := NewConfWithCredential("ns.servicebus.windows.net", "eh1", valueCredential{})
	if key(v) != key(v.Clone()) || key(v) == key(NewConfWithCredential("ns.servicebus.windows.net", "eh1", valueCredential{})) {
		t.Error("a credential that is not a pointer: a key per NewConfWithCredential")
	}
}

func mustPoolOptions(t *testing.T, c *Conf, noRetries bool) *azeventhubs.ConsumerClientOptions {
	t.Helper()
	o, err := poolOptions(c, noRetries)
	if err != nil {
		t.Fatal(err)
	}
	return o
}
