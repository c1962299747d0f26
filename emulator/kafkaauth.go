package emulator

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator/kafka"
)

// kafkaAuthenticate checks SASL PLAIN as Event Hubs does: the user name
// $ConnectionString, the password a connection string whose policy and
// key (or shared access signature) are checked as the AMQP listener checks
// them. The rights are the policy's; EntityPath limits the connection to
// that hub. Errors name the policy and the reason, never a key.
func (s *Server) kafkaAuthenticate(user, password string) (kafka.Access, error) {
	if user != kafka.SASLUser {
		return kafka.Access{}, fmt.Errorf("SASL PLAIN user name %.64q: want %s, with a connection string as the password", user, kafka.SASLUser)
	}
	cs, err := azeventhubs.ParseConnectionString(password)
	if err != nil {
		// The SDK's errors quote no key's or signature's value.
		return kafka.Access{}, fmt.Errorf("the password is not an Event Hubs connection string: %w", err)
	}
	endpoint, err := url.Parse(cs.Endpoint)
	if err != nil || !s.IsHostName(endpoint.Hostname()) {
		return kafka.Access{}, fmt.Errorf("the connection string's Endpoint is not a name of this emulator (%s): use the Endpoint it prints",
			s.allHostNames())
	}
	entity := ""
	if cs.EntityPath != nil {
		entity = *cs.EntityPath
	}
	// The token's host need only be a name of this emulator, as the
	// Endpoint's is: not the same one.
	var target resource
	if entity != "" {
		target.path = []string{strings.ToLower(entity)}
	}
	if cs.SharedAccessSignature != nil {
		if t, problem := parseSASToken(*cs.SharedAccessSignature); problem == "" && entity == "" {
			if scope, ok := t.resource(); ok {
				target.path = scope.path // without EntityPath, the token's own hub
			}
		}
		return s.kafkaSignatureAccess(*cs.SharedAccessSignature, target)
	}
	return s.kafkaKeyAccess(*cs.SharedAccessKeyName, cs.SharedAccessKey, entity)
}

// kafkaKeyAccess checks a policy's key, in constant time.
func (s *Server) kafkaKeyAccess(name string, key *string, entity string) (kafka.Access, error) {
	p, ok := s.policy(name)
	if !ok {
		return kafka.Access{}, fmt.Errorf("unknown policy %s (SharedAccessKeyName)", shownName(name))
	}
	if key == nil || subtle.ConstantTimeCompare([]byte(*key), []byte(p.Key)) != 1 {
		return kafka.Access{}, fmt.Errorf("policy '%s': wrong SharedAccessKey", p.Name)
	}
	return accessOf(p.rights(), entity, "policy '"+p.Name+"'"), nil
}

// kafkaSignatureAccess checks a connection string's SharedAccessSignature
// as a put-token's: policy, signature, expiry and audience.
func (s *Server) kafkaSignatureAccess(sig string, target resource) (kafka.Access, error) {
	g, _, reason := s.checkToken(sig, target, 0, time.Now())
	if reason != "" {
		return kafka.Access{}, errors.New(reason)
	}
	if len(g.scope.path) > 1 {
		// The service's Kafka endpoint maps a connection to whole topics:
		// the hub's access would exceed the token's.
		return kafka.Access{}, fmt.Errorf("%s: the token is for '%s', less than a hub: a Kafka connection reads and writes whole hubs: "+
			"sign the token for the hub or the namespace", g.holder, g.scope)
	}
	entity := ""
	if len(g.scope.path) > 0 {
		entity = g.scope.path[0]
	}
	a := accessOf(g.rights, entity, g.holder)
	a.Expires = g.expires
	return a, nil
}

func accessOf(r SASRights, entity, who string) kafka.Access {
	return kafka.Access{Send: r.has(RightSend), Listen: r.has(RightListen), Topic: entity, Principal: who}
}
