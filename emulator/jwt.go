package emulator

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Microsoft Entra ID's bearer tokens, as Event Hubs takes them on $cbs
// (type "jwt"): a JWT signed by one of the keys the emulator is given (a
// JSON Web Key Set, as Entra ID publishes its own), unexpired and valid
// now, for the audience of Event Hubs. Its principal (the oid claim, else
// sub) has the rights of its roles, as role assignments on a namespace
// give them on Azure; a principal with none is refused. A verified token
// grants its rights on the whole namespace until it expires, and the
// links it keeps end with it unless renewed (tokenexpiry.go). Reasons and
// logs name the principal, the key ID and the audience, never the token.

// EventHubsAudience is the audience of Entra ID's tokens for Event Hubs:
// what a client gets for the scope "https://eventhubs.azure.net//.default",
// as the Go SDK asks.
const EventHubsAudience = "https://eventhubs.azure.net/"

// jwtAudiences are the audiences accepted. Entra ID writes the resource as
// the client named it: the Go SDK's scope gives the audience with the
// slash, while a client naming the resource without it (az account
// get-access-token --resource https://eventhubs.azure.net, older SDKs)
// gets one without; the service takes both, so the emulator does too.
var jwtAudiences = []string{EventHubsAudience, strings.TrimSuffix(EventHubsAudience, "/")}

// jwtMethods are the signing algorithms accepted: those of RSA keys, the
// keys Entra ID signs with. HMAC and "none" are never accepted.
var jwtMethods = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}

// minRSABits refuses keys too short to trust, as Entra ID's are 2048 bits.
const minRSABits = 2048

// jwtLeeway is how far a token's times may be off the emulator's clock:
// clocks of containers, hosts and Entra ID differ by moments, and a token
// issued a second "in the future" is no forgery.
const jwtLeeway = 30 * time.Second

// JWTKeySet is a JSON Web Key Set (RFC 7517): the public keys whose
// tokens the emulator accepts, by key ID.
type JWTKeySet struct {
	keys map[string]*rsa.PublicKey
	algs map[string]string // a key's "alg", when it names one
}

// KeyIDs lists the set's key IDs, sorted.
func (k *JWTKeySet) KeyIDs() []string { return slices.Sorted(maps.Keys(k.keys)) }

// jwk is one key of a set as JSON holds it.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// LoadJWKS reads a JSON Web Key Set from a file (ParseJWKS).
func LoadJWKS(path string) (*JWTKeySet, error) {
	return loadFile(path, "emulator: JWT keys", ParseJWKS)
}

// ParseJWKS reads a JSON Web Key Set, {"keys": [...]}: RSA keys of at
// least 2048 bits, each with a distinct kid, for signing ("use" sig or
// absent). Errors name the key by its kid or its place.
func ParseJWKS(data []byte) (*JWTKeySet, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("not a JSON Web Key Set (want {\"keys\": [...]}): %w", err)
	}
	if len(set.Keys) == 0 {
		return nil, errors.New(`no keys: want {"keys": [{"kty": "RSA", "kid": ..., "n": ..., "e": ...}]}`)
	}
	ks := &JWTKeySet{keys: map[string]*rsa.PublicKey{}, algs: map[string]string{}}
	for i, k := range set.Keys {
		name := fmt.Sprintf("key %d", i)
		if k.Kid != "" {
			name = fmt.Sprintf("key %.64q", k.Kid)
		}
		pub, err := k.rsaKey()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if _, dup := ks.keys[k.Kid]; dup {
			return nil, fmt.Errorf("%s: its kid is given twice; tokens name their key by it", name)
		}
		ks.keys[k.Kid] = pub
		if k.Alg != "" {
			ks.algs[k.Kid] = k.Alg
		}
	}
	return ks, nil
}

// rsaKey is the key's public RSA key, checked.
func (k jwk) rsaKey() (*rsa.PublicKey, error) {
	switch {
	case k.Kid == "":
		return nil, errors.New("no kid: tokens name their key by it")
	case k.Kty != "RSA":
		return nil, fmt.Errorf("kty %.16q: the emulator takes RSA keys, as Entra ID signs with", k.Kty)
	case k.Use != "" && k.Use != "sig":
		return nil, fmt.Errorf("use %.16q: want sig (or none)", k.Use)
	case k.Alg != "" && !slices.Contains(jwtMethods, k.Alg):
		return nil, fmt.Errorf("alg %.16q: want one of %s", k.Alg, strings.Join(jwtMethods, ", "))
	}
	n, errN := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.N, "="))
	e, errE := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.E, "="))
	if errN != nil || errE != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
		return nil, errors.New("n and e must be base64url big-endian numbers (e at most 4 bytes)")
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	if pub.N.BitLen() < minRSABits {
		return nil, fmt.Errorf("a %d-bit RSA key: want at least %d bits", pub.N.BitLen(), minRSABits)
	}
	if pub.E < 3 || pub.E%2 == 0 {
		return nil, fmt.Errorf("RSA exponent %d: want an odd number of at least 3", pub.E)
	}
	return pub, nil
}

// JWTRole gives the principal of JWT bearer tokens rights, as a role
// assignment on a namespace does on Azure: Azure Event Hubs Data Sender
// (RightSend), Receiver (RightListen) or Owner (AllRights).
type JWTRole struct {
	// Principal is the token's oid claim, else its sub.
	Principal string
	Rights    SASRights
}

// jwtRoleNames are the roles as --jwt-role names them.
var jwtRoleNames = []struct {
	name   string
	rights SASRights
}{{"sender", RightSend}, {"receiver", RightListen}, {"owner", AllRights}}

// ParseJWTRole reads PRINCIPAL=ROLE, ROLE being sender, receiver or owner.
func ParseJWTRole(s string) (JWTRole, error) {
	principal, role, ok := strings.Cut(s, "=")
	principal = strings.TrimSpace(principal)
	if !ok || principal == "" {
		return JWTRole{}, fmt.Errorf("%.100q: want PRINCIPAL=sender|receiver|owner, PRINCIPAL being the token's oid (or sub)", s)
	}
	for _, r := range jwtRoleNames {
		if strings.EqualFold(strings.TrimSpace(role), r.name) {
			return JWTRole{Principal: principal, Rights: r.rights}, nil
		}
	}
	return JWTRole{}, fmt.Errorf("role %.32q of principal %.100q: want sender, receiver or owner", role, principal)
}

// validateJWT checks the JWT settings of a Config.
func validateJWT(c *Config) error {
	if len(c.JWTRoles) > 0 && c.JWTKeys == nil {
		return errors.New("emulator config: JWTRoles (--jwt-role) without JWTKeys (--jwt-keys): no token could be verified")
	}
	for i, r := range c.JWTRoles {
		if strings.TrimSpace(r.Principal) == "" {
			return fmt.Errorf("emulator config: JWT role %d: the principal is empty", i)
		}
		if r.Rights == 0 || r.Rights&^AllRights != 0 {
			return fmt.Errorf("emulator config: JWT role of %.100q: rights %#x: want send, listen or manage", r.Principal, uint8(r.Rights))
		}
	}
	return nil
}

// jwtRights is what the roles give principal; 0 when none does.
func (s *Server) jwtRights(principal string) SASRights {
	var r SASRights
	for _, role := range s.cfg.JWTRoles {
		if role.Principal == principal {
			r |= role.Rights
		}
	}
	return r
}

// checkJWT verifies a JWT bearer token and grants its principal's rights
// on the namespace. The reason, empty when the token is good, names the
// principal, key ID or audience, never the token.
func (s *Server) checkJWT(tok string, now time.Time) (g grant, principal, reason string) {
	if s.cfg.JWTKeys == nil {
		return g, "", "a JWT bearer token (type jwt), which this emulator was given no keys to check: " +
			"start it with --jwt-keys (Config.JWTKeys), or give the client a connection string with a policy's SharedAccessKeyName and SharedAccessKey"
	}
	var claims jwt.MapClaims
	parser := jwt.NewParser(jwt.WithValidMethods(jwtMethods), jwt.WithExpirationRequired(),
		jwt.WithAudience(jwtAudiences...), jwt.WithLeeway(jwtLeeway), jwt.WithTimeFunc(func() time.Time { return now }))
	var kid string
	var keyErr error // why the key was not found: said as is
	t, err := parser.ParseWithClaims(strings.TrimSpace(tok), &claims, func(t *jwt.Token) (any, error) {
		kid, _ = t.Header["kid"].(string)
		var pub *rsa.PublicKey
		pub, keyErr = s.cfg.JWTKeys.keyFor(kid, t.Method.Alg())
		return pub, keyErr
	})
	switch {
	case keyErr != nil:
		return g, "", "JWT: " + keyErr.Error()
	case err != nil && t != nil && t.Method != nil && !slices.Contains(jwtMethods, t.Method.Alg()):
		return g, "", fmt.Sprintf("JWT: signing algorithm %.16q is not accepted: want one of %s", t.Method.Alg(), strings.Join(jwtMethods, ", "))
	case err != nil:
		return g, "", "JWT: " + jwtProblem(err, claims, kid)
	}
	principal = jwtPrincipal(claims)
	if principal == "" {
		return g, "", "JWT: the token has neither an oid nor a sub claim: no principal to give rights to"
	}
	rights := s.jwtRights(principal)
	if rights == 0 {
		return g, principal, fmt.Sprintf("JWT: principal '%.100s' has no role on this emulator: give it one with --jwt-role %.100s=sender|receiver|owner (Config.JWTRoles)", principal, principal)
	}
	exp, _ := claims.GetExpirationTime() // required above
	return grant{holder: fmt.Sprintf("principal '%.100s'", principal), rights: rights, expires: exp.Time}, principal, ""
}

// keyFor is the key of kid for a token signed with alg, or why not.
func (k *JWTKeySet) keyFor(kid, alg string) (*rsa.PublicKey, error) {
	if kid == "" {
		return nil, errors.New("the token's header has no kid (key ID), by which the emulator finds its key")
	}
	pub, ok := k.keys[kid]
	if !ok {
		return nil, fmt.Errorf("signed by an unknown key: key ID '%.64s' is not among the emulator's JWT keys (%s)", kid, strings.Join(k.KeyIDs(), ", "))
	}
	if want, ok := k.algs[kid]; ok && want != alg {
		return nil, fmt.Errorf("key '%s' is for %s, and the token is signed with %.16s", kid, want, alg)
	}
	return pub, nil
}

// jwtProblem says what the parser found wrong, naming what the client can
// fix: the audience given and wanted, the key, the expiry.
func jwtProblem(err error, claims jwt.MapClaims, kid string) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed token: not a JSON Web Token (header.payload.signature, base64url)"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return fmt.Sprintf("bad signature: the token was not signed by key '%.64s'", kid)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		aud, _ := claims.GetAudience()
		return fmt.Sprintf("wrong audience: the token is for %s, and Event Hubs takes '%s' (ask Entra ID for the scope %s.default)",
			quoteList(aud), EventHubsAudience, EventHubsAudience)
	case errors.Is(err, jwt.ErrTokenExpired):
		exp, _ := claims.GetExpirationTime()
		return fmt.Sprintf("the token expired at %s", exp.UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		nbf, _ := claims.GetNotBefore()
		return fmt.Sprintf("the token is not valid before %s (nbf)", nbf.UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "the token has no exp (expiry) claim"
	}
	return "the token was refused: " + err.Error()
}

// jwtPrincipal is who a token speaks for: Entra ID's object ID (oid),
// else the subject.
func jwtPrincipal(claims jwt.MapClaims) string {
	if oid, ok := claims["oid"].(string); ok && oid != "" {
		return oid
	}
	sub, _ := claims.GetSubject()
	return sub
}

func quoteList(ss []string) string {
	if len(ss) == 0 {
		return "no audience"
	}
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("'%.100s'", s)
	}
	return strings.Join(q, ", ")
}
