package emulator

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ehstream/ehstream/internal/entratest"
	"github.com/golang-jwt/jwt/v5"
)

// testIssuers are two keys: "k1", which the emulator is given, and
// another that signs as "k1" too, whose signature must fail.
var testIssuers = sync.OnceValues(func() ([2]*entratest.Issuer, error) {
	a, err := entratest.NewIssuer("k1")
	if err != nil {
		return [2]*entratest.Issuer{}, err
	}
	b, err := entratest.NewIssuer("k1")
	return [2]*entratest.Issuer{a, b}, err
})

func jwtServer(t *testing.T) (*Server, [2]*entratest.Issuer) {
	t.Helper()
	iss, err := testIssuers()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := ParseJWKS(iss[0].JWKS())
	if err != nil {
		t.Fatal(err)
	}
	return &Server{cfg: Config{JWTKeys: keys, JWTRoles: []JWTRole{
		{Principal: "reader", Rights: RightListen}, {Principal: "app", Rights: RightSend}, {Principal: "app", Rights: RightListen},
	}}}, iss
}

// TestCheckJWT: a token signed by a known key, unexpired and valid now,
// for Event Hubs' audience (with or without the final slash), grants its
// principal's roles until it expires; every other is refused with a
// reason that names the cause and never shows the token.
func TestCheckJWT(t *testing.T) {
	srv, iss := jwtServer(t)
	now := time.Now()
	good := entratest.Token{Audience: EventHubsAudience, Principal: "app", IssuedAt: now, Expires: now.Add(time.Hour)}
	with := func(f func(*entratest.Token)) entratest.Token { tok := good; f(&tok); return tok }
	unknown, err := entratest.NewIssuer("k9")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		by     *entratest.Issuer
		tok    entratest.Token
		rights SASRights
		want   string // "" accepted
	}{
		{"good", iss[0], good, RightSend | RightListen, ""},
		{"audience without the slash", iss[0], with(func(t *entratest.Token) { t.Audience = "https://eventhubs.azure.net" }), RightSend | RightListen, ""},
		{"one role", iss[0], with(func(t *entratest.Token) { t.Principal = "reader" }), RightListen, ""},
		{"wrong audience", iss[0], with(func(t *entratest.Token) { t.Audience = "https://storage.azure.com" }), 0,
			"wrong audience: the token is for 'https://storage.azure.com', and Event Hubs takes 'https://eventhubs.azure.net/'"},
		{"unknown key", unknown, good, 0, "signed by an unknown key: key ID 'k9' is not among the emulator's JWT keys (k1)"},
		{"bad signature", iss[1], good, 0, "bad signature: the token was not signed by key 'k1'"},
		{"expired", iss[0], with(func(t *entratest.Token) { t.IssuedAt, t.Expires = now.Add(-time.Hour), now.Add(-time.Minute) }), 0, "the token expired at"},
		{"not yet valid", iss[0], with(func(t *entratest.Token) { t.NotBefore = now.Add(time.Minute) }), 0, "not valid before"},
		{"no role", iss[0], with(func(t *entratest.Token) { t.Principal = "stranger" }), 0,
			"principal 'stranger' has no role on this emulator: give it one with --jwt-role stranger=sender|receiver|owner"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := tc.by.Mint(tc.tok)
			if err != nil {
				t.Fatal(err)
			}
			g, _, reason := srv.checkJWT(tok, now)
			if !strings.Contains(reason, tc.want) || (tc.want == "") != (reason == "") {
				t.Fatalf("reason %q, want %q", reason, tc.want)
			}
			if strings.Contains(reason, tok) || strings.Contains(reason, strings.Split(tok, ".")[2]) {
				t.Errorf("the reason shows the token: %q", reason)
			}
			if tc.want == "" && (g.rights != tc.rights || !g.expires.Equal(tc.tok.Expires.Truncate(time.Second)) || !g.scope.covers(parseResource("eh1/Partitions/0", false))) {
				t.Errorf("grant %+v: want rights %s until %s over the namespace", g, tc.rights, tc.tok.Expires)
			}
		})
	}
}

// TestCheckJWTForm: tokens that are not RS-signed JWTs, and a server
// given no keys, are refused saying so.
func TestCheckJWTForm(t *testing.T) {
	srv, _ := jwtServer(t)
	hs, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"aud": EventHubsAudience, "oid": "app",
		"exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte("shared-secret-of-thirty-two-bytes"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, tok, want string }{
		{"malformed", "not.a.token", "malformed token"},
		{"HMAC", hs, `signing algorithm "HS256" is not accepted`},
	} {
		if _, _, reason := srv.checkJWT(tc.tok, time.Now()); !strings.Contains(reason, tc.want) {
			t.Errorf("%s: reason %q, want %q", tc.name, reason, tc.want)
		}
	}
	none := &Server{cfg: Config{SASPolicies: []SASPolicy{{Name: "app", Key: unitKey}}}}
	if _, _, reason := none.checkJWT(hs, time.Now()); !strings.Contains(reason, "given no keys") {
		t.Errorf("without keys: %q", reason)
	}
}

func TestParseJWKS(t *testing.T) {
	iss, err := testIssuers()
	if err != nil {
		t.Fatal(err)
	}
	ks, err := ParseJWKS(iss[0].JWKS())
	if err != nil || strings.Join(ks.KeyIDs(), ",") != "k1" {
		t.Fatalf("ParseJWKS: %v %v", ks, err)
	}
	for _, tc := range []struct{ in, want string }{
		{`{}`, "no keys"},
		{`[1]`, "not a JSON Web Key Set"},
		{`{"keys":[{"kty":"EC","kid":"e"}]}`, `key "e": kty "EC": the emulator takes RSA keys`},
		{`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`, "key 0: no kid"},
		{`{"keys":[{"kty":"RSA","kid":"s","n":"AQAB","e":"AQAB"}]}`, `key "s": a 17-bit RSA key: want at least 2048 bits`},
		{`{"keys":[{"kty":"RSA","kid":"s","n":"!!","e":"AQAB"}]}`, "base64url"},
		{`{"keys":[{"kty":"RSA","kid":"s","use":"enc"}]}`, `use "enc"`},
		{`{"keys":[{"kty":"RSA","kid":"s","alg":"HS256"}]}`, `alg "HS256"`},
	} {
		if _, err := ParseJWKS([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseJWKS(%s): %v, want %q", tc.in, err, tc.want)
		}
	}
	twice := strings.Replace(string(iss[0].JWKS()), `"keys":[`, `"keys":[`+strings.TrimSuffix(strings.TrimPrefix(string(iss[0].JWKS()), `{"keys":[`), "]}")+",", 1)
	if _, err := ParseJWKS([]byte(twice)); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("a kid twice: %v", err)
	}
}

func TestParseJWTRole(t *testing.T) {
	for in, want := range map[string]JWTRole{
		"1234-oid=sender":     {Principal: "1234-oid", Rights: RightSend},
		"x=Receiver":          {Principal: "x", Rights: RightListen},
		" x = owner ":         {Principal: "x", Rights: AllRights},
		"sub|with|bars=owner": {Principal: "sub|with|bars", Rights: AllRights},
	} {
		if got, err := ParseJWTRole(in); err != nil || got != want {
			t.Errorf("ParseJWTRole(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for in, want := range map[string]string{"x": "want PRINCIPAL=", "=owner": "want PRINCIPAL=", "x=admin": `role "admin" of principal "x"`} {
		if _, err := ParseJWTRole(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseJWTRole(%q): %v, want %q", in, err, want)
		}
	}
	if err := (&Config{JWTRoles: []JWTRole{{Principal: "x", Rights: RightSend}}}).Validate(); err == nil || !strings.Contains(err.Error(), "without JWTKeys") {
		t.Errorf("roles without keys: %v", err)
	}
}
