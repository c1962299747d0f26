package kafka

import (
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// versionRange is the versions of one API key the endpoint serves.
type versionRange struct{ min, max int16 }

// served lists the API keys answered and their versions. The lower bounds
// are where record batches v2 begin (Produce 3, Fetch 4); the upper bounds
// stop before topic IDs replace names (Fetch 13, Metadata 10 would need
// them to be stable).
var served = map[kmsg.Key]versionRange{
	kmsg.ApiVersions: {0, 3},
	kmsg.Metadata:    {1, 9},
	kmsg.Produce:     {3, 9},
	kmsg.Fetch:       {4, 12},
	kmsg.ListOffsets: {1, 7},

	// The group coordinator (groupapi.go): classic groups, before KIP-848's
	// member epochs (OffsetCommit 9, OffsetFetch 9) and share groups
	// (FindCoordinator 6).
	kmsg.FindCoordinator: {0, 4},
	kmsg.JoinGroup:       {0, 9},
	kmsg.SyncGroup:       {0, 5},
	kmsg.Heartbeat:       {0, 4},
	kmsg.LeaveGroup:      {0, 5},
	kmsg.OffsetCommit:    {2, 8},
	kmsg.OffsetFetch:     {1, 8},
	kmsg.DescribeGroups:  {0, 5},
	kmsg.ListGroups:      {0, 4},
	kmsg.DeleteGroups:    {0, 2},

	// The idempotent producer (producerid.go); v5 is KIP-939's two-phase
	// commit.
	kmsg.InitProducerID: {0, 4},
	// SASL (sasl.go): v0 handshakes are followed by a bare token.
	kmsg.SASLHandshake:    {0, 1},
	kmsg.SASLAuthenticate: {0, 2},
}

// handler answers one parsed request; a nil response sends nothing.
type handler func(c *conn, req kmsg.Request) kmsg.Response

func handlerFor(k kmsg.Key) handler {
	switch k {
	case kmsg.ApiVersions:
		return func(*conn, kmsg.Request) kmsg.Response { return apiVersions(0) }
	case kmsg.Metadata:
		return func(c *conn, r kmsg.Request) kmsg.Response { return c.metadata(r.(*kmsg.MetadataRequest)) }
	case kmsg.Produce:
		return func(c *conn, r kmsg.Request) kmsg.Response { return c.produce(r.(*kmsg.ProduceRequest)) }
	case kmsg.Fetch:
		return func(c *conn, r kmsg.Request) kmsg.Response { return c.fetch(r.(*kmsg.FetchRequest)) }
	case kmsg.ListOffsets:
		return func(c *conn, r kmsg.Request) kmsg.Response { return c.listOffsets(r.(*kmsg.ListOffsetsRequest)) }
	case kmsg.InitProducerID:
		return func(c *conn, r kmsg.Request) kmsg.Response { return c.initProducerID(r.(*kmsg.InitProducerIDRequest)) }
	case kmsg.SASLHandshake:
		return func(c *conn, r kmsg.Request) kmsg.Response { return c.saslHandshake(r.(*kmsg.SASLHandshakeRequest)) }
	case kmsg.SASLAuthenticate:
		return func(c *conn, r kmsg.Request) kmsg.Response {
			return c.saslAuthenticate(r.(*kmsg.SASLAuthenticateRequest))
		}
	}
	return groupHandler(k)
}

// handle answers req: the encoded response body (nil for none) and whether
// its version is flexible.
func (s *Server) handle(c *conn, req *request) ([]byte, bool) {
	key := kmsg.Key(req.key)
	vr, ok := served[key]
	kr := kmsg.RequestForKey(req.key)
	switch {
	case kr == nil:
		return errorOnly(kerr.InvalidRequest), false
	case key == kmsg.ApiVersions && (req.version < vr.min || req.version > vr.max):
		// The protocol's own fallback: answer v0 with the versions served,
		// so that the client can pick one.
		return apiVersions(kerr.UnsupportedVersion.Code).AppendTo(nil), false
	case !ok || req.version < vr.min || req.version > vr.max:
		return errorOnly(kerr.UnsupportedVersion), false
	}
	kr.SetVersion(req.version)
	if err := kr.ReadFrom(req.body); err != nil {
		c.log.Warn("kafka request does not parse", "key", key.Name(), "version", req.version, "err", err)
		if key == kmsg.ApiVersions {
			// Clients read any answer to ApiVersions as v0: give them the
			// versions with the error.
			return apiVersions(kerr.InvalidRequest.Code).AppendTo(nil), false
		}
		return errorOnly(kerr.InvalidRequest), false
	}
	resp := handlerFor(key)(c, kr)
	if resp == nil {
		return nil, false
	}
	resp.SetVersion(req.version)
	return resp.AppendTo(nil), resp.IsFlexible()
}

// errorOnly is the body of an answer to a request the endpoint cannot
// parse: just an error code, which clients report rather than hang on.
func errorOnly(e *kerr.Error) []byte { return kbin.AppendInt16(nil, e.Code) }

// apiVersions lists the versions served.
func apiVersions(code int16) *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.ErrorCode = code
	for _, k := range slices.Sorted(maps.Keys(served)) {
		v := kmsg.NewApiVersionsResponseApiKey()
		v.ApiKey, v.MinVersion, v.MaxVersion = int16(k), served[k].min, served[k].max
		resp.ApiKeys = append(resp.ApiKeys, v)
	}
	return resp
}
