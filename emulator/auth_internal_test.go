package emulator

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator/amqp"
)

const unitKey = "dW5pdC10ZXN0LWtleS0wMTIzNDU2Nzg5YWJjZGVmZ2g="

func TestParseSASPolicy(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want SASPolicy
	}{
		{"app=" + unitKey, SASPolicy{Name: "app", Key: unitKey}},
		{"app=" + unitKey + ":send", SASPolicy{Name: "app", Key: unitKey, Rights: RightSend}},
		{"r.1=" + unitKey + ":Listen, send", SASPolicy{Name: "r.1", Key: unitKey, Rights: RightListen | RightSend}},
		{"m=a:b:manage", SASPolicy{Name: "m", Key: "a:b", Rights: RightManage}},
		{"k=x=y=", SASPolicy{Name: "k", Key: "x=y="}},
	} {
		got, err := ParseSASPolicy(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSASPolicy(%q) = %#v, %v; want %#v", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{unitKey, "NAME= missing"},       // a key alone splits at its padding
		{unitKey + "=", "NAME= missing"}, // even with two '='
		{"=" + unitKey, "name is empty"},
		{"app=", "empty key"},
		{"app=:send", "empty key"},
		{"app=" + unitKey + ":send,lsiten", "right 2 after the last ':'"},
		{"app=" + unitKey + ":", "right 1 after the last ':'"},
		{"app=" + unitKey[:10] + ":" + unitKey[10:], "right 1 after the last ':'"},
		{"no equals sign", "no '='"},
		{"bad name=" + unitKey, "NAME= missing"},
	} {
		_, err := ParseSASPolicy(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseSASPolicy(%q): %v, want an error saying %q", tc.in, err, tc.want)
			continue
		}
		for _, part := range []string{unitKey, unitKey[:10], unitKey[10:], "lsiten"} {
			if strings.Contains(err.Error(), part) {
				t.Errorf("ParseSASPolicy(%q): error %q quotes %q", tc.in, err, part)
			}
		}
	}
	p := SASPolicy{Name: "app", Key: unitKey, Rights: RightListen}
	for _, s := range []string{fmt.Sprint(p), fmt.Sprintf("%+v", p), fmt.Sprintf("%#v", p), fmt.Sprint([]SASPolicy{p})} {
		if strings.Contains(s, unitKey) || !strings.Contains(s, "app (listen)") {
			t.Errorf("printed policy %q: want the name and rights, no key", s)
		}
	}
}

// sign builds a token the way the JavaScript SDK does (upper-case
// encodeURIComponent, the policy name encoded too) or Go's (lower-cased).
func sign(resource, policy, key string, se int64, lower bool) string {
	sr := url.QueryEscape(resource)
	if lower {
		sr = strings.ToLower(sr)
	}
	mac := hmac.New(sha256.New, []byte(key))
	fmt.Fprintf(mac, "%s\n%d", sr, se)
	sig := url.QueryEscape(base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	return fmt.Sprintf("SharedAccessSignature sr=%s&sig=%s&se=%d&skn=%s", sr, sig, se, url.QueryEscape(policy))
}

func TestVerifyPutToken(t *testing.T) {
	srv := &Server{cfg: Config{SASPolicies: []SASPolicy{
		{Name: "app", Key: unitKey},
		{Name: "send-only", Key: unitKey, Rights: RightSend},
		{Name: "mgr", Key: unitKey, Rights: RightManage},
	}}}
	now := time.Unix(1_800_000_000, 0)
	later := now.Add(time.Hour).Unix()
	const aud = "amqp://Localhost:5672/EH1/ConsumerGroups/$Default/Partitions/0"
	for _, tc := range []struct {
		name, typ, token, audience, want string
	}{
		{"go style", sasTokenType, sign("amqp://localhost:5672/eh1", "app", unitKey, later, true), aud, ""},
		{"js style", sasTokenType, sign("sb://localhost/EH1", "app", unitKey, later, false), aud, ""},
		{"namespace only", sasTokenType, sign("localhost:6000", "app", unitKey, later, true), aud, ""},
		{"fields in another order", sasTokenType, reorder(sign("sb://localhost/eh1", "app", unitKey, later, false)), aud, ""},
		{"manage implies listen", sasTokenType, sign("sb://localhost/eh1", "mgr", unitKey, later, false), aud, ""},
		{"send-only to the hub", sasTokenType, sign("sb://localhost/eh1", "send-only", unitKey, later, false), "sb://localhost/eh1", ""},
		{"send-only to a consumer group", sasTokenType, sign("sb://localhost/eh1", "send-only", unitKey, later, false), aud, "missing right"},
		{"send-only to $management", sasTokenType, sign("sb://localhost/eh1", "send-only", unitKey, later, false), "amqp://localhost/eh1/$management", "missing right"},
		{"jwt", "jwt", "eyJ...", aud, "JWT bearer token"},
		// Python puts SAS tokens with type jwt: the token, not the type, says
		// what it is, as on the service.
		{"jwt carrying a SAS token (python)", "jwt", sign("sb://localhost:5671/eh1", "app", unitKey, later, false), aud, ""},
		{"jwt carrying a SAS token with a wrong key", "jwt", sign("sb://localhost/eh1", "app", "wrong", later, false), aud, "bad signature"},
		{"another type carrying a SAS token", "x", sign("sb://localhost/eh1", "app", unitKey, later, false), aud, ""},
		{"another type", "x", "abc", aud, "unsupported token type"},
		{"no audience", sasTokenType, sign("sb://localhost/eh1", "app", unitKey, later, true), "", "no audience"},
		{"not a SAS", sasTokenType, "Bearer x", aud, "malformed token"},
		{"no se", sasTokenType, strings.Replace(sign("sb://localhost/eh1", "app", unitKey, later, true), "&se=", "&xx=", 1), aud, "se is missing"},
		{"se twice", sasTokenType, sign("sb://localhost/eh1", "app", unitKey, later, true) + "&se=1", aud, "se appears twice"},
		{"se not a number", sasTokenType, strings.Replace(sign("sb://localhost/eh1", "app", unitKey, later, true), "&se=", "&se=x", 1), aud, "se is not a whole number"},
		{"unknown policy", sasTokenType, sign("sb://localhost/eh1", "other", unitKey, later, true), aud, "unknown policy 'other'"},
		{"a key as the policy", sasTokenType, sign("sb://localhost/eh1", unitKey, unitKey, later, true), aud, "name not shown"},
		{"wrong key", sasTokenType, sign("sb://localhost/eh1", "app", "wrong", later, true), aud, "bad signature"},
		{"tampered resource", sasTokenType, strings.Replace(sign("sb://localhost/eh1", "app", unitKey, later, true), "eh1", "eh2", 1), "sb://localhost/eh2", "bad signature"},
		{"expired", sasTokenType, sign("sb://localhost/eh1", "app", unitKey, now.Add(-time.Second).Unix(), true), aud, "expired at 2027-01-15T07:59:59Z"},
		{"another hub", sasTokenType, sign("sb://localhost/eh2", "app", unitKey, later, true), aud, "wrong audience"},
		{"a hub whose name starts alike", sasTokenType, sign("sb://localhost/eh", "app", unitKey, later, true), aud, "wrong audience"},
		{"another host", sasTokenType, sign("sb://otherhost/eh1", "app", unitKey, later, true), aud, "wrong audience"},
		{"another partition", sasTokenType, sign("sb://localhost/eh1/ConsumerGroups/$Default/Partitions/1", "app", unitKey, later, true), aud, "wrong audience"},
	} {
		_, _, reason := srv.verifyPutToken(tc.typ, tc.token, tc.audience, now)
		if (tc.want == "") != (reason == "") || !strings.Contains(reason, tc.want) {
			t.Errorf("%s: reason %q, want %q", tc.name, reason, tc.want)
		}
		_, sig, _ := strings.Cut(tc.token, "sig=")
		sig, _, _ = strings.Cut(sig, "&")
		if strings.Contains(reason, unitKey) || (sig != "" && strings.Contains(reason, sig)) {
			t.Errorf("%s: reason %q shows a key or signature", tc.name, reason)
		}
	}
}

// reorder moves a token's fields into another order.
func reorder(tok string) string {
	fields := strings.Split(strings.TrimPrefix(tok, sasPrefix), "&")
	return sasPrefix + strings.Join([]string{fields[3], fields[2], fields[0], fields[1]}, "&")
}

func TestConnAuthAllows(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	var a connAuth
	a.add(grant{holder: "policy 'r'", rights: RightListen, scope: parseResource("sb://h/eh1", true), expires: now.Add(time.Minute)}, now)
	a.add(grant{holder: "policy 's'", rights: RightSend, scope: parseResource("sb://h/eh2/Partitions/0", true), expires: now.Add(time.Minute)}, now)
	target := func(addr string) *resource { r := parseResource(addr, false); return &r }
	for _, tc := range []struct {
		addr string
		need SASRights
		at   time.Time
		want string // "" allowed
	}{
		{"eh1/ConsumerGroups/$default/Partitions/0", RightListen, now, ""},
		{"EH1/consumergroups/$Default/partitions/1", RightListen, now, ""},
		{"eh1", RightSend, now, "does not grant Send"},
		{"eh2/Partitions/0", RightSend, now, ""},
		{"eh2/Partitions/1", RightSend, now, "No token"},
		{"eh2", RightSend, now, "No token"},
		{"eh10", RightListen, now, "No token"},
		{"eh1/ConsumerGroups/$default/Partitions/0", RightListen, now.Add(2 * time.Minute), "expired"},
	} {
		ok, detail := a.allows(target(tc.addr), tc.need, tc.at)
		if ok != (tc.want == "") || !strings.Contains(detail, tc.want) {
			t.Errorf("%s needing %s: %v %q, want %q", tc.addr, tc.need, ok, detail, tc.want)
		}
	}
	// The bound: a client putting tokens for ever more resources keeps at
	// most maxGrants.
	for i := range 3 * maxGrants {
		a.add(grant{holder: "policy 'r'", rights: RightListen, scope: parseResource(fmt.Sprintf("sb://h/hub%d", i), true), expires: now.Add(time.Duration(i) * time.Second)}, now)
	}
	if n := len(a.grants); n != maxGrants {
		t.Errorf("%d grants kept, want %d", n, maxGrants)
	}
}

func TestCheckExposure(t *testing.T) {
	policies := []SASPolicy{{Name: "app", Key: unitKey}}
	for _, tc := range []struct {
		listen   string
		policies []SASPolicy
		insecure bool
		want     string // "" allowed
	}{
		{"127.0.0.1:5672", nil, false, ""},
		{"127.0.0.2:0", nil, false, ""},
		{"localhost:5672", nil, false, ""},
		{"[::1]:5672", nil, false, ""},
		{"0.0.0.0:5672", nil, false, "plain AMQP without TLS, so keys, tokens and events would cross the network unencrypted, and no SAS policy"},
		{":5672", nil, false, "not a loopback address"},
		{"[::]:5672", policies, false, "without TLS"},
		{"192.168.1.10:5672", policies, false, "--insecure"},
		{"myhost.example:5672", policies, false, "not a loopback address"},
		{"0.0.0.0:5672", nil, true, ""},
		{"0.0.0.0:5672", policies, true, ""},
		{"not an address", nil, false, ""}, // listening fails with its own error
	} {
		err := checkExposure(Config{Listen: tc.listen, SASPolicies: tc.policies, Insecure: tc.insecure})
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("listen %s, %d policies, insecure %v: %v, want %q", tc.listen, len(tc.policies), tc.insecure, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), unitKey) {
			t.Errorf("the refusal shows the key: %v", err)
		}
	}
}

// TestVerifySecurityToken: the token a $management request carries must
// be good and cover the hub it reads, with Listen.
func TestVerifySecurityToken(t *testing.T) {
	srv := &Server{cfg: Config{SASPolicies: []SASPolicy{{Name: "app", Key: unitKey}, {Name: "send-only", Key: unitKey, Rights: RightSend}}}}
	now := time.Unix(1_800_000_000, 0)
	later := now.Add(time.Hour).Unix()
	hub := resource{path: []string{"eh1"}}
	for _, tc := range []struct {
		name  string
		token any
		want  string
	}{
		{"for the hub", sign("amqp://localhost:5672/eh1", "app", unitKey, later, true), ""},
		{"for the namespace", sign("sb://localhost", "app", unitKey, later, false), ""},
		{"for another hub", sign("sb://localhost/eh2", "app", unitKey, later, false), "wrong audience"},
		{"for the hub of another namespace", sign("sb://other-namespace.servicebus.windows.net/eh1", "app", unitKey, later, false), "is not a name of this emulator"},
		{"for a partition only", sign("sb://localhost/eh1/ConsumerGroups/$Default/Partitions/0", "app", unitKey, later, false), "wrong audience"},
		{"send-only", sign("sb://localhost/eh1", "send-only", unitKey, later, false), "missing right"},
		{"expired", sign("sb://localhost/eh1", "app", unitKey, now.Unix(), false), "expired"},
		{"wrong key", sign("sb://localhost/eh1", "app", "other", later, false), "bad signature"},
		{"not a string", int64(7), "malformed token"},
		// pyamqp sends its AccessToken tuple: the token as a binary
		// descriptor, the expiry as the value.
		{"binary-described (python)", amqp.Described{Descriptor: []byte(sign("sb://localhost:5671/eh1", "app", unitKey, later, false)), Value: int32(later)}, ""},
		{"binary-described, wrong key", amqp.Described{Descriptor: []byte(sign("sb://localhost/eh1", "app", "other", later, false)), Value: int32(later)}, "bad signature"},
		{"binary", []byte(sign("sb://localhost/eh1", "app", unitKey, later, false)), ""},
		{"described by a number", amqp.Described{Descriptor: uint64(7), Value: sign("sb://localhost/eh1", "app", unitKey, later, false)}, "malformed token"},
	} {
		if got := srv.verifySecurityToken(tc.token, hub, now); (got == "") != (tc.want == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
