package kafka

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// client is who sent a group request, as DescribeGroups reports members.
type client struct{ id, host string }

// join handles JoinGroup: an answer now, or a channel the answer comes on
// once the rebalance completes.
func (co *Groups) join(req *kmsg.JoinGroupRequest, cl client) (*kmsg.JoinGroupResponse, <-chan *kmsg.JoinGroupResponse) {
	fail := func(e *kerr.Error) (*kmsg.JoinGroupResponse, <-chan *kmsg.JoinGroupResponse) {
		resp := kmsg.NewPtrJoinGroupResponse()
		resp.ErrorCode, resp.Generation, resp.MemberID = e.Code, -1, req.MemberID
		return resp, nil
	}
	session := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	switch {
	case req.Group == "":
		return fail(kerr.InvalidGroupID)
	case session < minSessionTimeout || session > maxSessionTimeout:
		return fail(kerr.InvalidSessionTimeout)
	case req.ProtocolType == "" || len(req.Protocols) == 0:
		return fail(kerr.InconsistentGroupProtocol)
	}
	co.mu.Lock()
	defer co.mu.Unlock()
	if co.closed {
		return fail(kerr.CoordinatorNotAvailable)
	}
	g := co.groupFor(req.Group)
	if len(g.members) > 0 && (g.protocolType != req.ProtocolType || !g.supports(req.Protocols, req.MemberID)) {
		return fail(kerr.InconsistentGroupProtocol)
	}
	if m := g.members[req.MemberID]; m != nil {
		return g.rejoin(m, req)
	}
	_, wasPending := g.pending[req.MemberID]
	if req.MemberID != "" && !wasPending {
		return fail(kerr.UnknownMemberID)
	}
	id := req.MemberID
	if id == "" {
		id = newMemberID(cl.id)
		if req.Version >= 4 && req.InstanceID == nil {
			// The protocol's two-step join: the client learns its id, then
			// joins with it, so that a lost answer leaves no ghost member.
			g.pending[id] = struct{}{}
			time.AfterFunc(session, func() { co.forgetPending(g, id) })
			resp, _ := fail(kerr.MemberIDRequired)
			resp.MemberID = id
			return resp, nil
		}
	}
	delete(g.pending, id)
	return g.add(id, req, cl)
}

func (co *Groups) forgetPending(g *group, id string) {
	co.mu.Lock()
	defer co.mu.Unlock()
	delete(g.pending, id)
}

// add makes a new member and starts a rebalance for it. A static member
// (group.instance.id) replaces the member that had its instance id.
func (g *group) add(id string, req *kmsg.JoinGroupRequest, cl client) (*kmsg.JoinGroupResponse, <-chan *kmsg.JoinGroupResponse) {
	if req.InstanceID != nil {
		if old := g.byInstance(*req.InstanceID); old != nil {
			g.remove(old)
		}
	}
	rebalance := time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	if req.Version == 0 {
		rebalance = time.Duration(req.SessionTimeoutMillis) * time.Millisecond // v0 has none: Kafka uses the session's
	}
	m := &member{id: id, clientID: cl.id, clientHost: cl.host, instanceID: req.InstanceID,
		session: time.Duration(req.SessionTimeoutMillis) * time.Millisecond, rebalance: rebalance}
	g.members[id] = m
	g.protocolType = req.ProtocolType
	return g.awaitJoin(m, req)
}

// rejoin handles a known member's JoinGroup. Rejoining with unchanged
// protocols outside a rebalance is answered with the current generation;
// the leader rejoining, or changed protocols, start a rebalance.
func (g *group) rejoin(m *member, req *kmsg.JoinGroupRequest) (*kmsg.JoinGroupResponse, <-chan *kmsg.JoinGroupResponse) {
	g.touch(m)
	same := protocolsEqual(m.protocols, req.Protocols)
	switch {
	case g.state == stateCompleting && same, g.state == stateStable && same && m.id != g.leader:
		resp := g.joinResponse(m.id)
		if m.id == g.leader {
			resp.Members = g.memberList()
		}
		return resp, nil
	}
	return g.awaitJoin(m, req)
}

func protocolsEqual(a, b []kmsg.JoinGroupRequestProtocol) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || string(a[i].Metadata) != string(b[i].Metadata) {
			return false
		}
	}
	return true
}

// awaitJoin puts the member in the join and starts a rebalance if none is
// under way.
func (g *group) awaitJoin(m *member, req *kmsg.JoinGroupRequest) (*kmsg.JoinGroupResponse, <-chan *kmsg.JoinGroupResponse) {
	m.protocols = req.Protocols
	if m.joinWait != nil { // a retried join replaces the one before
		g.answerWaits(m, kerr.RebalanceInProgress)
	}
	wait := make(chan *kmsg.JoinGroupResponse, 1)
	m.joinWait = wait
	if g.state != statePreparing {
		g.prepareRebalance()
	}
	g.maybeCompleteJoin()
	return nil, wait
}

// member is the group's current member id at generation gen, or the error
// Kafka gives for a request from anyone else: UNKNOWN_MEMBER_ID for an
// unknown group or member, ILLEGAL_GENERATION for another generation.
func (co *Groups) member(name, id string, gen int32) (*group, *member, *kerr.Error) {
	if co.closed {
		return nil, nil, kerr.CoordinatorNotAvailable
	}
	g := co.groups[name]
	if g == nil || g.members[id] == nil {
		return nil, nil, kerr.UnknownMemberID
	}
	if gen != g.generation {
		return nil, nil, kerr.IllegalGeneration
	}
	return g, g.members[id], nil
}

// sync handles SyncGroup: the leader's request carries every member's
// assignment and makes the group Stable; the others wait for it.
func (co *Groups) sync(req *kmsg.SyncGroupRequest) (*kmsg.SyncGroupResponse, <-chan *kmsg.SyncGroupResponse) {
	resp := kmsg.NewPtrSyncGroupResponse()
	co.mu.Lock()
	defer co.mu.Unlock()
	g, m, err := co.member(req.Group, req.MemberID, req.Generation)
	switch {
	case err != nil:
		resp.ErrorCode = err.Code
		return resp, nil
	case req.Protocol != nil && *req.Protocol != g.protocol, req.ProtocolType != nil && *req.ProtocolType != g.protocolType:
		resp.ErrorCode = kerr.InconsistentGroupProtocol.Code
		return resp, nil
	case g.state == statePreparing:
		resp.ErrorCode = kerr.RebalanceInProgress.Code
		return resp, nil
	case g.state == stateStable:
		resp.MemberAssignment = m.assignment
		return g.withProtocol(resp), nil
	}
	g.touch(m)
	wait := make(chan *kmsg.SyncGroupResponse, 1)
	m.syncWait = wait
	if m.id == g.leader {
		for _, a := range req.GroupAssignment {
			if am := g.members[a.MemberID]; am != nil {
				am.assignment = a.MemberAssignment
			}
		}
		g.state = stateStable
		for _, am := range g.members {
			if am.syncWait != nil {
				r := kmsg.NewPtrSyncGroupResponse()
				r.MemberAssignment = am.assignment
				am.syncWait <- g.withProtocol(r)
				am.syncWait = nil
			}
		}
	}
	return nil, wait
}

func (g *group) withProtocol(resp *kmsg.SyncGroupResponse) *kmsg.SyncGroupResponse {
	resp.ProtocolType, resp.Protocol = kmsg.StringPtr(g.protocolType), kmsg.StringPtr(g.protocol)
	return resp
}

// heartbeat keeps a member's session; during a rebalance it tells the
// member to rejoin (REBALANCE_IN_PROGRESS).
func (co *Groups) heartbeat(req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := kmsg.NewPtrHeartbeatResponse()
	co.mu.Lock()
	defer co.mu.Unlock()
	g, m, err := co.member(req.Group, req.MemberID, req.Generation)
	if err != nil {
		resp.ErrorCode = err.Code
		return resp
	}
	g.touch(m)
	if g.state == statePreparing {
		resp.ErrorCode = kerr.RebalanceInProgress.Code
	}
	return resp
}

// leave handles LeaveGroup: one member (v0–v2) or a batch of them, each
// by member id or, for static members, by instance id.
func (co *Groups) leave(req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := kmsg.NewPtrLeaveGroupResponse()
	leaving := req.Members
	if req.Version < 3 {
		leaving = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	co.mu.Lock()
	defer co.mu.Unlock()
	g := co.groups[req.Group]
	gone := false
	for _, l := range leaving {
		lm := kmsg.NewLeaveGroupResponseMember()
		lm.MemberID, lm.InstanceID = l.MemberID, l.InstanceID
		m, code := g.leaver(l)
		if m != nil {
			g.remove(m)
			gone = true
		}
		lm.ErrorCode = code
		resp.Members = append(resp.Members, lm)
	}
	if gone {
		g.memberGone()
	}
	if req.Version < 3 {
		resp.ErrorCode, resp.Members = resp.Members[0].ErrorCode, nil
	}
	return resp
}

// leaver is the member a LeaveGroup entry names, or the error code for it:
// FENCED_INSTANCE_ID when the instance id belongs to another member id.
func (g *group) leaver(l kmsg.LeaveGroupRequestMember) (*member, int16) {
	if g == nil {
		return nil, kerr.UnknownMemberID.Code
	}
	if l.InstanceID != nil {
		m := g.byInstance(*l.InstanceID)
		switch {
		case m == nil:
			return nil, kerr.UnknownMemberID.Code
		case l.MemberID != "" && l.MemberID != m.id:
			return nil, kerr.FencedInstanceID.Code
		}
		return m, 0
	}
	if m := g.members[l.MemberID]; m != nil {
		return m, 0
	}
	return nil, kerr.UnknownMemberID.Code
}
