// Package entratest stands in for Microsoft Entra ID in tests: a signing
// key and its JSON Web Key Set (what the emulator's --jwt-keys takes), and
// an azcore.TokenCredential that mints RS256 tokens from it for the scope
// it is asked, as Entra ID issues them, counting what it minted. Nothing
// here is fit for production: the key lives in memory.
package entratest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/golang-jwt/jwt/v5"
)

// Tenant is the tenant ID of the tokens an Issuer mints.
const Tenant = "72f988bf-0000-4000-8000-00000000e11a"

// Issuer signs tokens with one RSA key, by its key ID.
type Issuer struct {
	KeyID string
	key   *rsa.PrivateKey
}

// NewIssuer makes a 2048-bit RSA key named kid.
func NewIssuer(kid string) (*Issuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return &Issuer{KeyID: kid, key: key}, nil
}

// JWKS is the issuer's public key as a JSON Web Key Set.
func (i *Issuer) JWKS() []byte {
	b64 := base64.RawURLEncoding.EncodeToString
	set := map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": i.KeyID,
		"n": b64(i.key.N.Bytes()), "e": b64(big.NewInt(int64(i.key.E)).Bytes()),
	}}}
	data, _ := json.Marshal(set) // maps of strings always marshal
	return data
}

// WriteJWKS writes JWKS to path.
func (i *Issuer) WriteJWKS(path string) error { return os.WriteFile(path, i.JWKS(), 0o644) }

// Token is what a minted token says.
type Token struct {
	Audience  string
	Principal string    // the oid claim
	NotBefore time.Time // zero: IssuedAt
	IssuedAt  time.Time // zero: now
	Expires   time.Time
}

// Mint signs a token with the claims Entra ID's access tokens carry.
func (i *Issuer) Mint(t Token) (string, error) {
	if t.IssuedAt.IsZero() {
		t.IssuedAt = time.Now()
	}
	if t.NotBefore.IsZero() {
		t.NotBefore = t.IssuedAt
	}
	claims := jwt.MapClaims{
		"aud": t.Audience, "iss": "https://sts.windows.net/" + Tenant + "/", "tid": Tenant,
		"oid": t.Principal, "sub": "sub-" + t.Principal,
		"iat": t.IssuedAt.Unix(), "nbf": t.NotBefore.Unix(), "exp": t.Expires.Unix(), "ver": "1.0",
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = i.KeyID
	return tok.SignedString(i.key)
}

// Credential is an azcore.TokenCredential that mints a token of Lifetime
// for Principal at every call, for the audience of the scope asked
// ("https://eventhubs.azure.net//.default" gives
// "https://eventhubs.azure.net/"), or for Audience when set.
type Credential struct {
	Issuer    *Issuer
	Principal string
	Lifetime  time.Duration
	// Audience, when set, replaces the scope's: a token for another
	// service.
	Audience string
	// Expired mints tokens that expired a minute ago.
	Expired bool
	// Err, when set, is what GetToken fails with: a credential with no
	// login or identity to sign in with.
	Err error

	mu     sync.Mutex
	minted []time.Time
}

var _ azcore.TokenCredential = (*Credential)(nil)

// GetToken mints a token.
func (c *Credential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if c.Err != nil {
		return azcore.AccessToken{}, c.Err
	}
	aud := c.Audience
	if aud == "" && len(opts.Scopes) > 0 {
		aud = strings.TrimSuffix(opts.Scopes[0], "/.default")
	}
	now := time.Now()
	t := Token{Audience: aud, Principal: c.Principal, IssuedAt: now, Expires: now.Add(c.Lifetime)}
	if c.Expired {
		t.IssuedAt, t.Expires = now.Add(-time.Hour), now.Add(-time.Minute)
	}
	tok, err := c.Issuer.Mint(t)
	if err != nil {
		return azcore.AccessToken{}, err
	}
	c.mu.Lock()
	c.minted = append(c.minted, now)
	c.mu.Unlock()
	return azcore.AccessToken{Token: tok, ExpiresOn: t.Expires}, nil
}

// Minted is when each token was minted, in order.
func (c *Credential) Minted() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.minted...)
}
