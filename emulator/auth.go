package emulator

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ehstream/ehstream/emulator/amqp"
)

// Shared access signatures, as Event Hubs checks them.
//
// Without SAS policies the emulator is in development mode: every token is
// accepted and every link attaches. With at least one policy, each $cbs
// put-token is verified (policy, signature, expiry, audience, rights) and
// answered 401 when it fails; a verified token is remembered on its
// connection, for the resource it was signed for, until it expires. A link
// attaches only when such a token covers its address with the right it
// needs (Send to send, Listen to receive and to read $management); else it
// is refused at attach time with amqp:unauthorized-access. Descriptions
// and logs name the policy and the reason, never a key or a signature.

// condUnauthorized refuses a token or a link for want of credentials.
const condUnauthorized amqp.Symbol = "amqp:unauthorized-access"

// SASRights is a set of rights a shared access policy grants.
type SASRights uint8

// The rights of a policy. Manage includes Send and Listen, as on the
// service.
const (
	RightSend SASRights = 1 << iota
	RightListen
	RightManage
	// AllRights is what a policy without listed rights has.
	AllRights = RightSend | RightListen | RightManage
)

var rightNames = []struct {
	r    SASRights
	name string
}{{RightSend, "send"}, {RightListen, "listen"}, {RightManage, "manage"}}

// String lists the rights as --sas-policy takes them: "send,listen".
func (r SASRights) String() string {
	var names []string
	for _, n := range rightNames {
		if r&n.r != 0 {
			names = append(names, n.name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ",")
}

// has reports whether r grants need; Manage grants everything.
func (r SASRights) has(need SASRights) bool {
	return r&RightManage != 0 || r&need == need
}

// claim is how the service names a right in its refusals.
func (r SASRights) claim() string {
	switch r {
	case RightSend:
		return "Send"
	case RightListen:
		return "Listen"
	}
	return "Manage"
}

// SASPolicy is a shared access policy: a name (the connection string's
// SharedAccessKeyName, a token's skn), its key and its rights.
type SASPolicy struct {
	Name string
	Key  string
	// Rights the policy grants; 0 means all three.
	Rights SASRights
}

// String names the policy and its rights, never its key, so that printing
// a Config shows no secret.
func (p SASPolicy) String() string { return p.Name + " (" + p.rights().String() + ")" }

// GoString keeps %#v from printing the key as well.
func (p SASPolicy) GoString() string { return "emulator.SASPolicy{" + p.String() + "}" }

func (p SASPolicy) rights() SASRights {
	if p.Rights == 0 {
		return AllRights
	}
	return p.Rights
}

// ParseSASPolicy reads NAME=KEY[:RIGHTS], RIGHTS being a comma-separated
// list of send, listen and manage (all three when left out). The rights
// follow the last ':', so a key holding ':' needs its rights spelled out.
// Errors never quote the key, nor anything that may be part of it.
func ParseSASPolicy(s string) (SASPolicy, error) {
	name, rest, ok := strings.Cut(s, "=")
	if !ok {
		return SASPolicy{}, fmt.Errorf("no '=' in the policy: want NAME=KEY[:send,listen,manage]")
	}
	if name == "" {
		return SASPolicy{}, fmt.Errorf("the policy name is empty: want NAME=KEY[:send,listen,manage]")
	}
	if err := validPolicyName(name); err != nil {
		return SASPolicy{}, err
	}
	p := SASPolicy{Name: name, Key: rest}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		p.Key = rest[:i]
		for n, word := range strings.Split(rest[i+1:], ",") {
			r, ok := parseRight(word)
			if !ok {
				// The word may be part of a key holding ':': say which, not what.
				return SASPolicy{}, fmt.Errorf("policy %q: right %d after the last ':' is not send, listen or manage (a key holding ':' needs its rights spelled out after it)", name, n+1)
			}
			p.Rights |= r
		}
	}
	if strings.Trim(p.Key, "=") == "" {
		// Likely a key given alone, split at its padding: the "name" is
		// the key, so it is not quoted.
		return SASPolicy{}, fmt.Errorf("a policy has an empty key (is NAME= missing?): want NAME=KEY[:send,listen,manage]")
	}
	return p, nil
}

// ParseSASPolicies reads each NAME=KEY[:RIGHTS] as ParseSASPolicy does,
// and refuses a name given twice. Errors say which, by position, and
// never quote a key.
func ParseSASPolicies(specs []string) ([]SASPolicy, error) {
	var ps []SASPolicy
	seen := map[string]bool{}
	for i, spec := range specs {
		p, err := ParseSASPolicy(spec)
		if err != nil {
			return nil, fmt.Errorf("policy #%d: %w", i+1, err)
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("policy %q is given twice", p.Name)
		}
		seen[p.Name] = true
		ps = append(ps, p)
	}
	return ps, nil
}

// DescribeSASPolicies names the policies and their rights, never a key:
// "app (send,listen,manage), reader (listen)".
func DescribeSASPolicies(ps []SASPolicy) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.String()
	}
	return strings.Join(names, ", ")
}

func parseRight(word string) (SASRights, bool) {
	word = strings.TrimSpace(word)
	for _, n := range rightNames {
		if strings.EqualFold(word, n.name) {
			return n.r, true
		}
	}
	return 0, false
}

// validPolicyName accepts what Azure accepts in a policy name. Its error
// quotes nothing: a name that fails may be a key pasted without "NAME=".
func validPolicyName(name string) error {
	if len(name) > 256 {
		return fmt.Errorf("the policy name is longer than 256 characters")
	}
	for _, r := range name {
		ok := r == '-' || r == '_' || r == '.' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !ok {
			return fmt.Errorf("the policy name has a character other than letters, digits, '.', '-' and '_' (is NAME= missing? want NAME=KEY[:send,listen,manage])")
		}
	}
	return nil
}

// validateSASPolicies explains the first bad policy, never quoting a key.
func validateSASPolicies(ps []SASPolicy) error {
	seen := map[string]bool{}
	for i, p := range ps {
		if p.Name == "" {
			return fmt.Errorf("emulator config: SAS policy %d: the name is empty", i)
		}
		if err := validPolicyName(p.Name); err != nil {
			return fmt.Errorf("emulator config: SAS policy %d: %w", i, err)
		}
		if p.Key == "" {
			return fmt.Errorf("emulator config: SAS policy %q has an empty key", p.Name)
		}
		if p.Rights&^AllRights != 0 {
			return fmt.Errorf("emulator config: SAS policy %q has unknown rights %#x", p.Name, uint8(p.Rights&^AllRights))
		}
		if seen[p.Name] {
			return fmt.Errorf("emulator config: SAS policy %q is configured twice", p.Name)
		}
		seen[p.Name] = true
	}
	return nil
}

// policy finds a policy by its exact name.
func (s *Server) policy(name string) (SASPolicy, bool) {
	for _, p := range s.cfg.SASPolicies {
		if p.Name == name {
			return p, true
		}
	}
	return SASPolicy{}, false
}

// authEnabled: with SAS policies or JWT keys, tokens and links are
// checked; without either, the emulator is in development mode.
func (s *Server) authEnabled() bool { return len(s.cfg.SASPolicies) > 0 || s.cfg.JWTKeys != nil }

// logAuthMode says at start whether keys are checked.
func (s *Server) logAuthMode() {
	if !s.authEnabled() {
		s.log.Warn("development mode: any key is accepted (configure a SAS policy or JWT keys to check keys and tokens)")
		return
	}
	if len(s.cfg.SASPolicies) > 0 {
		s.log.Info("SAS tokens are checked", "policies", DescribeSASPolicies(s.cfg.SASPolicies))
	}
	if s.cfg.JWTKeys != nil {
		s.log.Info("JWT bearer tokens are checked", "keys", strings.Join(s.cfg.JWTKeys.KeyIDs(), ", "), "roles", len(s.cfg.JWTRoles))
	}
}

// credentials are the key name and key a connection string carries: the
// first policy's, or the placeholder that development mode accepts.
func (s *Server) credentials() (name, key string) {
	if ps := s.cfg.SASPolicies; len(ps) > 0 {
		return ps[0].Name, ps[0].Key
	}
	return "RootManageSharedAccessKey", "SAS_KEY_VALUE"
}

// resource is what a token or an audience names: a host (without port)
// and the entity path's segments, lower-case (entity names are
// case-insensitive; Go lower-cases the whole resource it signs).
type resource struct {
	host string
	path []string
}

// parseResource reads "scheme://host[:port]/a/b", "host/a/b" or "a/b"
// (withHost false: a link address, which has no host). The scheme is
// ignored: Go uses amqp://, JavaScript sb://.
func parseResource(s string, withHost bool) resource {
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
		withHost = true
	}
	var r resource
	if withHost {
		host, path, _ := strings.Cut(s, "/")
		r.host = hostOnly(strings.ToLower(host))
		s = path
	}
	for _, seg := range strings.Split(s, "/") {
		if seg != "" {
			r.path = append(r.path, strings.ToLower(seg))
		}
	}
	return r
}

// hostOnly drops a port: the port is how a client reaches the namespace,
// not part of its name.
func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
}

// covers reports whether r is o or a parent of it, on segment boundaries;
// hosts are compared when both have one.
func (r resource) covers(o resource) bool {
	if r.host != "" && o.host != "" && r.host != o.host {
		return false
	}
	if len(r.path) > len(o.path) {
		return false
	}
	for i, seg := range r.path {
		if o.path[i] != seg {
			return false
		}
	}
	return true
}

func (r resource) String() string {
	s := strings.Join(r.path, "/")
	if r.host != "" {
		s = r.host + "/" + s
	}
	return s
}

// neededRight is the right an address needs when it shows it: Listen for
// a consumer group's partition and for $management, Send for a partition
// of the hub; 0 when it could be either (the hub itself).
func neededRight(path []string) SASRights {
	switch {
	case len(path) > 0 && path[len(path)-1] == "$management":
		return RightListen
	case len(path) > 1 && path[1] == "consumergroups":
		return RightListen
	case len(path) > 1 && path[1] == "partitions":
		return RightSend
	}
	return 0
}

// sasToken is a parsed "SharedAccessSignature sr=...&sig=...&se=...&skn=...".
// sr and se are kept as sent: the signature covers them so.
type sasToken struct {
	sr, sig, se, skn string
	expires          time.Time
}

const (
	sasTokenType = "servicebus.windows.net:sastoken"
	sasPrefix    = "SharedAccessSignature "
)

// parseSASToken reads a token; the problem it reports quotes no value.
func parseSASToken(tok string) (sasToken, string) {
	const want = "want 'SharedAccessSignature sr=...&sig=...&se=...&skn=...'"
	tok = strings.TrimSpace(tok)
	if len(tok) < len(sasPrefix) || !strings.EqualFold(tok[:len(sasPrefix)], sasPrefix) {
		return sasToken{}, "malformed token: not a shared access signature (" + want + ")"
	}
	var t sasToken
	fields := map[string]*string{"sr": &t.sr, "sig": &t.sig, "se": &t.se, "skn": &t.skn}
	seen := map[string]bool{}
	for _, f := range strings.Split(strings.TrimSpace(tok[len(sasPrefix):]), "&") {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return sasToken{}, "malformed token: a field without '=' (" + want + ")"
		}
		k = strings.ToLower(strings.TrimSpace(k))
		dst, known := fields[k]
		if !known {
			continue // other fields are the service's business, not a reason to refuse
		}
		if seen[k] {
			return sasToken{}, "malformed token: field " + k + " appears twice"
		}
		seen[k] = true
		*dst = strings.TrimSpace(v)
	}
	for _, k := range []string{"sr", "sig", "se", "skn"} {
		if *fields[k] == "" {
			return sasToken{}, "malformed token: field " + k + " is missing or empty (" + want + ")"
		}
	}
	se, err := strconv.ParseInt(t.se, 10, 64)
	if err != nil {
		return sasToken{}, "malformed token: se is not a whole number of seconds since 1970"
	}
	t.expires = time.Unix(se, 0).UTC()
	if name, err := url.PathUnescape(t.skn); err == nil { // JavaScript encodes the name
		t.skn = name
	}
	return t, ""
}

// shownName quotes a policy name a client sent, unless it could be
// something else: a key pasted where the name goes must not be echoed.
func shownName(name string) string {
	if len(name) > 64 || validPolicyName(name) != nil {
		return "(name not shown: it is not a valid policy name)"
	}
	return "'" + name + "'"
}

// signedBy reports whether key made the token's signature:
// base64(HMAC-SHA256(key, sr + "\n" + se)), sr as it appears in the token
// (each SDK URL-encodes it its own way before signing), the signature
// itself URL-encoded. Constant time.
func (t sasToken) signedBy(key string) bool {
	sig, err := url.PathUnescape(t.sig)
	if err != nil {
		return false
	}
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(t.sr + "\n" + t.se))
	return hmac.Equal(mac.Sum(nil), got)
}

// resource is what the token was signed for.
func (t sasToken) resource() (resource, bool) {
	sr, err := url.PathUnescape(t.sr)
	if err != nil {
		return resource{}, false
	}
	return parseResource(sr, true), true
}

// grant is what one verified token allows on its connection.
type grant struct {
	holder  string // "policy 'NAME'" or "principal 'OID'": who the token speaks for
	rights  SASRights
	scope   resource
	expires time.Time
}

// maxGrants bounds the tokens a connection keeps: a client that puts
// tokens for ever more resources cannot grow the emulator's memory.
const maxGrants = 256

// connAuth holds the tokens put on one connection, and the links they
// must keep authorized (tokenexpiry.go). Its zero value is ready.
type connAuth struct {
	mu     sync.Mutex
	grants map[string]*grant
	links  map[link]*guardedLink
	wake   chan struct{} // a link to guard was added
}

func (a *connAuth) add(g grant, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.grants == nil {
		a.grants = map[string]*grant{}
	}
	key := g.holder + "\x00" + g.scope.String()
	if old, ok := a.grants[key]; ok {
		if g.expires.After(old.expires) {
			old.expires = g.expires
		}
		return
	}
	if len(a.grants) >= maxGrants {
		var soonest string
		for k, o := range a.grants {
			if !o.expires.After(now) {
				delete(a.grants, k)
			} else if soonest == "" || o.expires.Before(a.grants[soonest].expires) {
				soonest = k
			}
		}
		if len(a.grants) >= maxGrants {
			delete(a.grants, soonest)
		}
	}
	a.grants[key] = &g
}

// allows reports whether an unexpired token covers target with the right
// need; any token with the right will do when target is nil. The detail
// says why not.
func (a *connAuth) allows(target *resource, need SASRights, now time.Time) (ok bool, detail string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.allowsLocked(target, need, now)
}

func (a *connAuth) allowsLocked(target *resource, need SASRights, now time.Time) (ok bool, detail string) {
	expired, lacking := "", ""
	for k, g := range a.grants {
		if target != nil && !g.scope.covers(*target) {
			continue
		}
		if !g.expires.After(now) {
			expired = g.holder
			delete(a.grants, k)
			continue
		}
		if g.rights.has(need) {
			return true, ""
		}
		lacking = g.holder
	}
	switch {
	case lacking != "":
		return false, fmt.Sprintf("The token of %s does not grant %s.", lacking, need.claim())
	case expired != "":
		return false, fmt.Sprintf("The token of %s for it expired.", expired)
	}
	return false, "No token on this connection covers it: put a token for its address on $cbs first."
}

// authorizeAttach checks that the connection holds a token for the link:
// Send to send to a hub or partition, Listen to receive from a partition
// or to use $management. $cbs needs none. Nil when allowed.
func (c *conn) authorizeAttach(a *amqp.Attach) *amqp.Error {
	if !c.srv.authEnabled() {
		return nil
	}
	addr, need := linkAddress(a), RightSend
	if a.Role == amqp.RoleReceiver { // the client receives
		need = RightListen
	}
	var target *resource
	switch linkNode(a) { // by path or by URL, as entities are named
	case "$cbs":
		return nil
	case "$management":
		need = RightListen // requests and replies alike: reading properties needs Listen
	default:
		r := parseResource(addr, false)
		target = &r
	}
	ok, detail := c.auth.allows(target, need, time.Now())
	if ok {
		return nil
	}
	return unauthorizedLink(need, addr, detail)
}

// putToken answers a $cbs put-token: 202 when the token is accepted (always
// in development mode), else 401 naming the policy or principal and the
// reason.
func (c *conn) putToken(req *amqp.Message) *amqp.Message {
	srv := c.srv
	if !srv.authEnabled() {
		return response(req, 202, "Accepted", "", nil)
	}
	audience := appProp(req, "name")
	g, who, reason := srv.verifyPutToken(appProp(req, "type"), req.Value, audience, time.Now())
	if reason != "" {
		c.log.Info("put-token refused", "audience", audience, "by", who, "reason", reason)
		return response(req, 401, "Put-token refused: "+reason, condUnauthorized, nil)
	}
	c.auth.add(g, time.Now())
	c.log.Debug("put-token accepted", "audience", audience, "by", g.holder, "resource", g.scope.String(), "expires", g.expires)
	return response(req, 202, "Accepted", "", nil)
}

// verifyPutToken checks a token put for audience. The reason, empty when
// the token is good, names the policy or principal but never a key, a
// signature or the token. The token tells its kind, not the type: Python
// labels SAS tokens "jwt", and the service takes them.
func (s *Server) verifyPutToken(typ string, value any, audience string, now time.Time) (g grant, who, reason string) {
	switch isSAS := hasSASPrefix(tokenText(value)); {
	case !isSAS && typ == "jwt":
		// An Entra ID token grants its roles on the namespace, whatever
		// entity the put-token names.
		return s.checkJWT(tokenText(value), now)
	case !isSAS && typ != sasTokenType:
		return g, "", fmt.Sprintf("unsupported token type %.64q: the emulator checks shared access signatures (type %s) and JWT bearer tokens (type jwt)", typ, sasTokenType)
	}
	if audience == "" {
		return g, "", "malformed request: no audience (application property name)"
	}
	aud := parseResource(audience, true)
	return s.checkToken(value, aud, neededRight(aud.path), now)
}

// verifySecurityToken checks the token a $management request carries:
// it must cover target, with Listen. The Go SDK sends its JWT there too.
func (s *Server) verifySecurityToken(value any, target resource, now time.Time) string {
	if tok := tokenText(value); !hasSASPrefix(tok) && strings.Count(tok, ".") == 2 {
		g, _, reason := s.checkJWT(tok, now)
		if reason == "" && !g.rights.has(RightListen) {
			reason = fmt.Sprintf("JWT: %s has no role that grants Listen (receiver or owner)", g.holder)
		}
		return reason
	}
	_, _, reason := s.checkToken(value, target, RightListen, now)
	return reason
}

// checkToken verifies a token: a policy's, signed with its key, unexpired,
// for target or a parent of it, and granting need (0: any right). The
// reason, empty when the token is good, never shows a key or a signature.
func (s *Server) checkToken(value any, target resource, need SASRights, now time.Time) (g grant, policy, reason string) {
	t, problem := parseSASToken(tokenText(value))
	if problem != "" {
		return g, "", problem
	}
	p, ok := s.policy(t.skn)
	if !ok {
		return g, "", "unknown policy " + shownName(t.skn) + " (skn)"
	}
	if !t.signedBy(p.Key) {
		return g, p.Name, fmt.Sprintf("policy '%s': bad signature (the token was not signed with the policy's key)", p.Name)
	}
	if !t.expires.After(now) {
		return g, p.Name, fmt.Sprintf("policy '%s': the token expired at %s", p.Name, t.expires.Format(time.RFC3339))
	}
	scope, ok := t.resource()
	if !ok {
		return g, p.Name, fmt.Sprintf("policy '%s': malformed token: sr is not URL-encoded", p.Name)
	}
	if !s.IsHostName(scope.host) {
		// Link addresses have no host: a token for another namespace
		// would otherwise cover this one's hubs.
		return g, p.Name, fmt.Sprintf("policy '%s': wrong audience: the token is for host '%.100s', which is not a name of this emulator (%s): sign it for the host of the connection string's Endpoint",
			p.Name, scope.host, s.allHostNames())
	}
	if !scope.covers(target) {
		return g, p.Name, fmt.Sprintf("policy '%s': wrong audience: the token is for '%s', which does not cover '%s'", p.Name, scope, target)
	}
	if need != 0 && !p.rights().has(need) {
		return g, p.Name, fmt.Sprintf("policy '%s': missing right: it grants %s, and '%s' needs %s", p.Name, p.rights(), target, need)
	}
	return grant{holder: "policy '" + p.Name + "'", rights: p.rights(), scope: scope, expires: t.expires}, p.Name, ""
}

// authorizeRead checks a $management READ of hub: the request's
// security_token (both SDKs send one for the hub) or, without one, a token
// put on the connection must cover the hub with Listen. Nil when allowed,
// else the 401 response.
func (c *conn) authorizeRead(req *amqp.Message, hub string) *amqp.Message {
	if !c.srv.authEnabled() {
		return nil
	}
	now := time.Now()
	target := resource{path: []string{strings.ToLower(hub)}}
	tok, hasTok := req.ApplicationProperties.Get("security_token")
	if !hasTok || tok == nil {
		if ok, detail := c.auth.allows(&target, RightListen, now); !ok {
			return response(req, 401, fmt.Sprintf("Unauthorized access. 'Listen' claim(s) are required to read '%s'. %s", hub, detail), condUnauthorized, nil)
		}
		return nil
	}
	reason := c.srv.verifySecurityToken(tok, target, now)
	if reason == "" {
		return nil
	}
	c.log.Info("management request refused", "hub", hub, "reason", reason)
	return response(req, 401, "Unauthorized access: security_token refused: "+reason, condUnauthorized, nil)
}

// checkExposure refuses a configuration that would let the network reach
// the emulator without protection: every listener on an address other
// than loopback must use TLS, and at least one SAS policy must be
// configured, unless Insecure says to accept the risk. The plain AMQP and
// Kafka listeners never use TLS.
func checkExposure(cfg Config) error {
	if cfg.Insecure {
		return nil
	}
	type listener struct {
		what, addr string
		tls        bool
	}
	listeners := []listener{{"AMQP", cfg.Listen, false}}
	if cfg.TLS != nil {
		tlsListen := cfg.TLSListen
		if tlsListen == "" {
			tlsListen = "127.0.0.1:0"
		}
		listeners = append(listeners, listener{"AMQP over TLS", tlsListen, true})
	}
	if cfg.WebSocketListen != "" {
		listeners = append(listeners, listener{"WebSocket", cfg.WebSocketListen, cfg.TLS != nil})
	}
	if cfg.KafkaListen != "" {
		listeners = append(listeners, listener{"Kafka", cfg.KafkaListen, false})
	}
	if cfg.KafkaTLSListen != "" {
		listeners = append(listeners, listener{"Kafka over TLS", cfg.KafkaTLSListen, true})
	}
	for _, l := range listeners {
		if _, _, err := net.SplitHostPort(l.addr); err != nil || isLoopback(l.addr) {
			continue // a bad address fails to listen, with its own error
		}
		var why []string
		if !l.tls {
			why = append(why, "it is plain "+l.what+" without TLS, so keys, tokens and events would cross the network unencrypted")
		}
		if len(cfg.SASPolicies) == 0 && cfg.JWTKeys == nil {
			why = append(why, "no SAS policy or JWT keys are configured, so anyone who reaches it could read and write every hub")
		}
		if len(why) == 0 {
			continue
		}
		return fmt.Errorf("emulator: refusing to listen on %s, which is not a loopback address: %s; listen on 127.0.0.1 or localhost, or accept the risk with --insecure (Config.Insecure)",
			l.addr, strings.Join(why, ", and "))
	}
	return nil
}

// isLoopback reports whether a listen address reaches only this machine.
// "" and unspecified hosts listen on every interface; host names other
// than localhost are not resolved, and count as reachable.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	host, _, _ = strings.Cut(host, "%") // an IPv6 zone
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
