package kafka

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupState is a classic Kafka group's state, named as DescribeGroups and
// ListGroups report it.
type groupState string

const (
	stateEmpty      groupState = "Empty"
	statePreparing  groupState = "PreparingRebalance"
	stateCompleting groupState = "CompletingRebalance"
	stateStable     groupState = "Stable"
	stateDead       groupState = "Dead"
)

// The session timeouts the service permits (its documented range for
// session.timeout.ms); a join outside them is INVALID_SESSION_TIMEOUT.
const (
	minSessionTimeout = 6 * time.Second
	maxSessionTimeout = 300 * time.Second
)

// member is one consumer of a group.
type member struct {
	id, clientID, clientHost string
	instanceID               *string
	protocols                []kmsg.JoinGroupRequestProtocol
	session, rebalance       time.Duration
	assignment               []byte

	// joinWait and syncWait are set while the member waits in JoinGroup or
	// SyncGroup for the others; buffered so that answering never blocks.
	joinWait chan *kmsg.JoinGroupResponse
	syncWait chan *kmsg.SyncGroupResponse
	expiry   *time.Timer
}

// group is one Kafka consumer group: created on first use, as the
// service does, and unrelated to the hubs' Event Hubs consumer groups.
type group struct {
	co           *Groups
	name         string
	state        groupState
	protocolType string
	protocol     string
	generation   int32
	leader       string
	members      map[string]*member
	pending      map[string]struct{} // ids handed out with MEMBER_ID_REQUIRED
	rebalance    *time.Timer
}

// Groups is the Kafka consumer groups' coordinator (this broker is it for
// every group) and their committed offsets. An emulator has one, shared by
// its Kafka listeners. One lock for all groups: group requests are few and
// short, and the waits (JoinGroup, SyncGroup) happen outside it, on the
// members' channels.
type Groups struct {
	offsets *offsetStore

	mu     sync.Mutex // guards groups, closed and everything in them
	groups map[string]*group
	closed bool
}

// OpenGroups opens the coordinator, with the committed offsets kept in dir
// (created if need be) so that they survive a restart; "" keeps them in
// memory.
func OpenGroups(dir string) (*Groups, error) {
	offsets, err := openOffsetStore(dir)
	if err != nil {
		return nil, err
	}
	return &Groups{offsets: offsets, groups: map[string]*group{}}, nil
}

// Close stops every timer and answers every member waiting in a join or a
// sync (COORDINATOR_NOT_AVAILABLE), so that no callback runs after it.
func (co *Groups) Close() {
	co.mu.Lock()
	defer co.mu.Unlock()
	co.closed = true
	for _, g := range co.groups {
		if g.rebalance != nil {
			g.rebalance.Stop()
		}
		for _, m := range g.members {
			g.answerWaits(m, kerr.CoordinatorNotAvailable)
			if m.expiry != nil {
				m.expiry.Stop()
			}
		}
	}
}

// groupFor is the named group, created Empty on first use.
func (co *Groups) groupFor(name string) *group {
	g := co.groups[name]
	if g == nil {
		g = &group{co: co, name: name, state: stateEmpty, members: map[string]*member{}, pending: map[string]struct{}{}}
		co.groups[name] = g
	}
	return g
}

func newMemberID(clientID string) string {
	var b [16]byte
	rand.Read(b[:])
	return clientID + "-" + hex.EncodeToString(b[:])
}

// byInstance is the static member with this group.instance.id, if any.
func (g *group) byInstance(id string) *member {
	for _, m := range g.members {
		if m.instanceID != nil && *m.instanceID == id {
			return m
		}
	}
	return nil
}

// supports reports whether protocols has a name that every member other
// than except also lists, so that the group keeps a common protocol.
func (g *group) supports(protocols []kmsg.JoinGroupRequestProtocol, except string) bool {
	for _, p := range protocols {
		if g.allList(p.Name, except) {
			return true
		}
	}
	return false
}

func (g *group) allList(name, except string) bool {
	for _, m := range g.members {
		if m.id != except && !slices.ContainsFunc(m.protocols, func(p kmsg.JoinGroupRequestProtocol) bool { return p.Name == name }) {
			return false
		}
	}
	return true
}

// selectProtocol is the first protocol, in the leader's order of
// preference, that every member supports.
func (g *group) selectProtocol() string {
	for _, p := range g.members[g.leader].protocols {
		if g.allList(p.Name, "") {
			return p.Name
		}
	}
	return ""
}

// answerWaits ends a member's waits in JoinGroup and SyncGroup with code.
func (g *group) answerWaits(m *member, code *kerr.Error) {
	if m.joinWait != nil {
		resp := kmsg.NewPtrJoinGroupResponse()
		resp.ErrorCode, resp.Generation, resp.MemberID = code.Code, -1, m.id
		m.joinWait <- resp
		m.joinWait = nil
	}
	if m.syncWait != nil {
		resp := kmsg.NewPtrSyncGroupResponse()
		resp.ErrorCode = code.Code
		m.syncWait <- resp
		m.syncWait = nil
	}
}

// remove drops a member (left, expired or fenced); its waits end with
// UNKNOWN_MEMBER_ID.
func (g *group) remove(m *member) {
	if m.expiry != nil {
		m.expiry.Stop()
	}
	g.answerWaits(m, kerr.UnknownMemberID)
	delete(g.members, m.id)
	if g.leader == m.id {
		g.leader = ""
	}
}

// memberGone rebalances the group after a member left: the others must
// rejoin; with none left it becomes Empty.
func (g *group) memberGone() {
	if g.state == stateStable || g.state == stateCompleting {
		g.prepareRebalance()
	}
	g.maybeCompleteJoin()
}

// prepareRebalance asks every member to rejoin: members waiting in
// SyncGroup hear REBALANCE_IN_PROGRESS (and rejoin), and the join ends at
// the longest rebalance timeout at the latest.
func (g *group) prepareRebalance() {
	var longest time.Duration
	for _, m := range g.members {
		if m.syncWait != nil {
			resp := kmsg.NewPtrSyncGroupResponse()
			resp.ErrorCode = kerr.RebalanceInProgress.Code
			m.syncWait <- resp
			m.syncWait = nil
		}
		longest = max(longest, m.rebalance)
	}
	g.state = statePreparing
	if g.rebalance != nil {
		g.rebalance.Stop()
	}
	g.rebalance = time.AfterFunc(longest, g.rebalanceTimedOut)
}

// rebalanceTimedOut drops the members that did not rejoin in time and
// completes the join with the others.
func (g *group) rebalanceTimedOut() {
	g.co.mu.Lock()
	defer g.co.mu.Unlock()
	if g.co.closed || g.state != statePreparing || g.co.groups[g.name] != g {
		return
	}
	for _, m := range g.members {
		if m.joinWait == nil {
			g.remove(m)
		}
	}
	g.completeJoin()
}

// maybeCompleteJoin completes the join once every member has rejoined.
func (g *group) maybeCompleteJoin() {
	if g.state != statePreparing {
		return
	}
	for _, m := range g.members {
		if m.joinWait == nil {
			return
		}
	}
	g.completeJoin()
}

// completeJoin starts the next generation: it picks the leader (the old
// one if still there) and the protocol, and answers every waiting join;
// the leader's answer lists the members, for it to assign partitions.
func (g *group) completeJoin() {
	g.rebalance.Stop()
	g.generation++
	if len(g.members) == 0 {
		g.state, g.protocol, g.leader = stateEmpty, "", ""
		return
	}
	if _, ok := g.members[g.leader]; !ok {
		g.leader = slices.Min(mapsKeys(g.members))
	}
	g.protocol, g.state = g.selectProtocol(), stateCompleting
	for _, m := range g.members {
		m.assignment = nil
		resp := g.joinResponse(m.id)
		if m.id == g.leader {
			resp.Members = g.memberList()
		}
		m.joinWait <- resp
		m.joinWait = nil
		g.touch(m)
	}
}

func mapsKeys(ms map[string]*member) []string {
	keys := make([]string, 0, len(ms))
	for k := range ms {
		keys = append(keys, k)
	}
	return keys
}

// joinResponse is the current generation as a JoinGroup answer to id.
func (g *group) joinResponse(id string) *kmsg.JoinGroupResponse {
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.Generation, resp.LeaderID, resp.MemberID = g.generation, g.leader, id
	resp.ProtocolType, resp.Protocol = kmsg.StringPtr(g.protocolType), kmsg.StringPtr(g.protocol)
	return resp
}

func (g *group) memberList() []kmsg.JoinGroupResponseMember {
	var out []kmsg.JoinGroupResponseMember
	for _, m := range g.members {
		jm := kmsg.NewJoinGroupResponseMember()
		jm.MemberID, jm.InstanceID = m.id, m.instanceID
		for _, p := range m.protocols {
			if p.Name == g.protocol {
				jm.ProtocolMetadata = p.Metadata
			}
		}
		out = append(out, jm)
	}
	return out
}

// touch restarts a member's session: without a heartbeat (or join, or
// sync) within its session timeout it is removed and the group rebalances.
func (g *group) touch(m *member) {
	if m.expiry != nil {
		m.expiry.Stop()
	}
	m.expiry = time.AfterFunc(m.session, func() { g.expire(m) })
}

func (g *group) expire(m *member) {
	g.co.mu.Lock()
	defer g.co.mu.Unlock()
	if g.co.closed || g.members[m.id] != m {
		return
	}
	if m.joinWait != nil || m.syncWait != nil {
		g.touch(m) // waiting on the others is not being gone
		return
	}
	g.remove(m)
	g.memberGone()
}
