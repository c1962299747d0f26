package kafka

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"time"

	"github.com/ehstream/ehstream/emulator/partlog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Access is what an authenticated connection may do: as on Event Hubs, the
// rights of the shared access policy its connection string names.
type Access struct {
	// Send allows Produce; Listen allows Fetch, ListOffsets and groups.
	Send, Listen bool
	// Topic, when set, limits the connection to that one hub (the
	// connection string's EntityPath); names compare without case.
	Topic string
	// Principal names who the connection speaks for in logs ("policy
	// 'NAME'"); never a secret.
	Principal string
	// Expires, when set, ends the access (a shared access signature's
	// expiry): clients are told to authenticate again before it (KIP-368),
	// and a request after it closes the connection, as a Kafka broker
	// does.
	Expires time.Time
}

// fullAccess is development mode's: anything, on every hub.
var fullAccess = Access{Send: true, Listen: true, Principal: "development mode"}

// Right is what a request needs of a connection's Access.
type Right uint8

// The rights requests need; a request needing RightAny only asks that the
// topic be within the connection's scope (Metadata).
const (
	RightAny Right = iota
	RightSend
	RightListen
)

// allows reports whether a may use topic for what needs.
func (a *Access) allows(topic string, need Right) bool {
	if a.Topic != "" && !strings.EqualFold(a.Topic, topic) {
		return false
	}
	switch need {
	case RightSend:
		return a.Send
	case RightListen:
		return a.Listen
	}
	return true
}

// SASLUser is the user name Event Hubs takes with SASL PLAIN: the
// password is then a connection string.
const SASLUser = "$ConnectionString"

// saslMechanism is the one mechanism served.
const saslMechanism = "PLAIN"

// logFor is a topic's partition log when the connection's access allows
// need on it; else nil and the error code to answer: as the service,
// TOPIC_AUTHORIZATION_FAILED when the rights are lacking.
func (c *conn) logFor(topic string, partition int32, need Right) (*partlog.Log, int16) {
	if !c.access.allows(topic, need) {
		return nil, kerr.TopicAuthorizationFailed.Code
	}
	if l := c.srv.partitionLog(topic, partition); l != nil {
		return l, 0
	}
	return nil, kerr.UnknownTopicOrPartition.Code
}

// admits reports whether the connection may send a request of this key
// now: before authentication, and once its access expired, only what
// leads to it. A Kafka broker closes a connection that sends anything else
// then, and so does the endpoint.
func (c *conn) admits(key int16) bool {
	switch kmsg.Key(key) {
	case kmsg.ApiVersions, kmsg.SASLHandshake:
		return true
	case kmsg.SASLAuthenticate:
		return c.saslStarted
	}
	return c.access != nil && (c.access.Expires.IsZero() || time.Now().Before(c.access.Expires))
}

// saslHandshake takes the mechanism: PLAIN only. After a v0 handshake the
// client sends the PLAIN token as a bare frame, not in SaslAuthenticate.
func (c *conn) saslHandshake(req *kmsg.SASLHandshakeRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.SupportedMechanisms = []string{saslMechanism}
	switch {
	case c.saslStarted || (req.Version == 0 && c.access != nil && c.srv.authenticate != nil):
		// Authenticating again (KIP-368) takes a v1 handshake.
		resp.ErrorCode = kerr.IllegalSaslState.Code
	case req.Mechanism != saslMechanism:
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
	default:
		c.saslStarted = true
		c.rawSASL = req.Version == 0
	}
	return resp
}

// saslAuthenticate checks a PLAIN token. A failure is answered, and then
// the connection closes, as a Kafka broker does.
func (c *conn) saslAuthenticate(req *kmsg.SASLAuthenticateRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	if err := c.authenticatePlain(req.SASLAuthBytes); err != nil {
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		resp.ErrorMessage = kmsg.StringPtr(err.Error())
		c.closeAfter = true
	} else if exp := c.access.Expires; !exp.IsZero() {
		resp.SessionLifetimeMillis = max(time.Until(exp).Milliseconds(), 1) // v1+: when to authenticate again
	}
	return resp
}

// authenticateRaw answers the bare PLAIN token that follows a v0
// handshake: an empty frame when it is good; false (close the
// connection, the protocol's only refusal) otherwise.
func (c *conn) authenticateRaw(token []byte) bool {
	c.rawSASL = false
	if err := c.authenticatePlain(token); err != nil {
		return false
	}
	c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := c.nc.Write(binary.BigEndian.AppendUint32(nil, 0))
	return err == nil
}

// authenticatePlain checks "authzid NUL user NUL password" and, when good,
// gives the connection its access. The error names no secret.
func (c *conn) authenticatePlain(token []byte) error {
	c.saslStarted = false
	parts := bytes.Split(token, []byte{0})
	if len(parts) != 3 {
		c.log.Info("kafka SASL refused", "reason", "malformed PLAIN token")
		return errors.New("malformed SASL PLAIN token: want authzid NUL user NUL password")
	}
	user, password := string(parts[1]), string(parts[2])
	access := fullAccess
	if auth := c.srv.authenticate; auth != nil {
		var err error
		if access, err = auth(user, password); err != nil {
			c.log.Info("kafka SASL refused", "reason", err)
			return err
		}
	}
	c.access = &access
	c.log.Debug("kafka SASL accepted", "by", access.Principal)
	return nil
}
