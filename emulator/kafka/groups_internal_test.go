package kafka

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// pending is the code a step "returns" when its request waits for others.
const pending int16 = -100

// harness drives a Groups directly with requests for group "g", one step
// at a time, naming members by alias.
type harness struct {
	t     *testing.T
	co    *Groups
	ids   map[string]string
	gen   map[string]int32
	joins map[string]<-chan *kmsg.JoinGroupResponse
	syncs map[string]<-chan *kmsg.SyncGroupResponse
	resps map[string]*kmsg.JoinGroupResponse // each member's last join answer
}

type step struct {
	desc string
	run  func(h *harness) int16
	want int16
}

// joinReq is a JoinGroup for alias with the protocols named (default
// "range"), a 6 s session and a 50 ms rebalance timeout.
func (h *harness) joinReq(alias string, version int16, protocols []string) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version, req.Group, req.MemberID, req.ProtocolType = version, "g", h.ids[alias], "consumer"
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 6000, 50
	if len(protocols) == 0 {
		protocols = []string{"range"}
	}
	for _, name := range protocols {
		req.Protocols = append(req.Protocols, kmsg.JoinGroupRequestProtocol{Name: name, Metadata: []byte(alias)})
	}
	return req
}

func (h *harness) joined(alias string, resp *kmsg.JoinGroupResponse) int16 {
	if resp.MemberID != "" {
		h.ids[alias] = resp.MemberID
	}
	if resp.ErrorCode == 0 {
		h.gen[alias], h.resps[alias] = resp.Generation, resp
	}
	return resp.ErrorCode
}

func join(alias string, version int16, protocols ...string) func(*harness) int16 {
	return func(h *harness) int16 {
		return h.send(alias, h.joinReq(alias, version, protocols))
	}
}

func (h *harness) send(alias string, req *kmsg.JoinGroupRequest) int16 {
	resp, wait := h.co.join(req, client{id: "c", host: "/127.0.0.1"})
	if wait != nil {
		select {
		case resp = <-wait: // completed by this very join
		default:
			h.joins[alias] = wait
			return pending
		}
	}
	return h.joined(alias, resp)
}

func awaitJoin(alias string) func(*harness) int16 {
	return func(h *harness) int16 {
		select {
		case resp := <-h.joins[alias]:
			return h.joined(alias, resp)
		case <-time.After(5 * time.Second):
			h.t.Fatalf("%s's join is still waiting", alias)
			return 0
		}
	}
}

func syncGroup(alias string) func(*harness) int16 {
	return func(h *harness) int16 {
		req := kmsg.NewPtrSyncGroupRequest()
		req.Group, req.MemberID, req.Generation = "g", h.ids[alias], h.gen[alias]
		for _, m := range h.resps[alias].Members { // only the leader's join answer lists them
			req.GroupAssignment = append(req.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: m.MemberID, MemberAssignment: []byte("for " + m.MemberID)})
		}
		resp, wait := h.co.sync(req)
		if wait != nil {
			select {
			case resp = <-wait: // the leader's own answer
			default:
				h.syncs[alias] = wait
				return pending
			}
		}
		return resp.ErrorCode
	}
}

func awaitSync(alias string) func(*harness) int16 {
	return func(h *harness) int16 {
		select {
		case resp := <-h.syncs[alias]:
			if resp.ErrorCode == 0 && string(resp.MemberAssignment) != "for "+h.ids[alias] {
				h.t.Fatalf("%s got assignment %q", alias, resp.MemberAssignment)
			}
			return resp.ErrorCode
		case <-time.After(5 * time.Second):
			h.t.Fatalf("%s's sync is still waiting", alias)
			return 0
		}
	}
}

func heartbeat(alias string, genDelta int32) func(*harness) int16 {
	return func(h *harness) int16 {
		req := kmsg.NewPtrHeartbeatRequest()
		req.Group, req.MemberID, req.Generation = "g", h.ids[alias], h.gen[alias]+genDelta
		return h.co.heartbeat(req).ErrorCode
	}
}

func commit(alias string, partition int32) func(*harness) int16 {
	return func(h *harness) int16 {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version, req.Group, req.MemberID, req.Generation = 8, "g", h.ids[alias], h.gen[alias]
		if alias == "" {
			req.Generation = -1
		}
		req.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: partition, Offset: 7}}}}
		return h.co.commit(req, func(topic string) int {
			if topic == "t" {
				return 2
			}
			return -1
		}).Topics[0].Partitions[0].ErrorCode
	}
}

func leave(version int16, alias string, instance *string) func(*harness) int16 {
	return func(h *harness) int16 {
		req := kmsg.NewPtrLeaveGroupRequest()
		req.Version, req.Group, req.MemberID = version, "g", h.ids[alias]
		req.Members = []kmsg.LeaveGroupRequestMember{{MemberID: h.ids[alias], InstanceID: instance}}
		resp := h.co.leave(req)
		if version >= 3 {
			return resp.Members[0].ErrorCode
		}
		return resp.ErrorCode
	}
}

// expire is what the member's session timer does when it fires.
func expire(alias string) func(*harness) int16 {
	return func(h *harness) int16 {
		h.co.mu.Lock()
		g := h.co.groups["g"]
		m := g.members[h.ids[alias]]
		h.co.mu.Unlock()
		g.expire(m)
		return 0
	}
}

func state(want groupState) func(*harness) int16 {
	return func(h *harness) int16 {
		if got := h.co.describe("g").State; got != string(want) {
			h.t.Fatalf("group state %s, want %s", got, want)
		}
		return 0
	}
}

// custom is a step that sends a JoinGroup for alias changed by edit.
func custom(alias string, version int16, edit func(*kmsg.JoinGroupRequest)) func(*harness) int16 {
	return func(h *harness) int16 {
		req := h.joinReq(alias, version, nil)
		edit(req)
		return h.send(alias, req)
	}
}

func check(what string, ok func(h *harness) bool) func(*harness) int16 {
	return func(h *harness) int16 {
		if !ok(h) {
			h.t.Fatalf("not so: %s", what)
		}
		return 0
	}
}

// stableA: member a alone, Stable at generation 1.
var stableA = []step{
	{"first join (v5): the broker hands out the member id", join("a", 5), kerr.MemberIDRequired.Code},
	{"the join with it completes at once: a is alone", join("a", 5), 0},
	{"the leader's sync", syncGroup("a"), 0},
	{"", state(stateStable), 0},
}

// stableAB: a and b, Stable, a the leader.
var stableAB = append(slices.Clone(stableA),
	step{"b joins (v3: no member id round)", join("b", 3), pending},
	step{"a's heartbeat: rejoin", heartbeat("a", 0), kerr.RebalanceInProgress.Code},
	step{"a commits its generation while the group prepares", commit("a", 0), 0},
	step{"a's sync of the old generation", syncGroup("a"), kerr.RebalanceInProgress.Code},
	step{"a rejoins: everyone has, the join completes", join("a", 5), 0},
	step{"", awaitJoin("b"), 0},
	step{"", state(stateCompleting), 0},
	step{"commit before the assignment", commit("a", 0), kerr.RebalanceInProgress.Code},
	step{"heartbeat before the sync", heartbeat("a", 0), 0},
	step{"the follower's sync waits for the leader's", syncGroup("b"), pending},
	step{"the leader's sync", syncGroup("a"), 0},
	step{"the follower gets its assignment", awaitSync("b"), 0},
	step{"", state(stateStable), 0},
	step{"", check("generation 2, a the leader", func(h *harness) bool {
		return h.gen["a"] == 2 && h.gen["b"] == 2 && h.resps["a"].LeaderID == h.ids["a"] && len(h.resps["a"].Members) == 2
	}), 0},
)

// stateMachineCases are request sequences and the codes Kafka answers.
var stateMachineCases = []struct {
	name  string
	steps []step
}{
	{"a lone member", append(slices.Clone(stableA),
		step{"heartbeat", heartbeat("a", 0), 0},
		step{"commit", commit("a", 1), 0},
		step{"commit to a partition the topic lacks", commit("a", 2), kerr.UnknownTopicOrPartition.Code},
	)},
	{"unknown members and generations", append(slices.Clone(stableA),
		step{"heartbeat of another generation", heartbeat("a", 1), kerr.IllegalGeneration.Code},
		step{"heartbeat of no member", heartbeat("x", 1), kerr.UnknownMemberID.Code},
		step{"commit of no member", commit("x", 0), kerr.UnknownMemberID.Code},
		step{"a join with an id never given", custom("x", 5, func(r *kmsg.JoinGroupRequest) { r.MemberID = "made-up" }), kerr.UnknownMemberID.Code},
		step{"a simple commit while the group has members", commit("", 0), kerr.UnknownMemberID.Code},
	)},
	{"two members", stableAB},
	{"a member's commit to no group", []step{
		{"", commit("x", 0), kerr.UnknownMemberID.Code},
		{"", check("no group made of it", func(h *harness) bool { return len(h.co.list(nil)) == 0 }), 0},
		{"a simple consumer's commit makes the group", commit("", 0), 0},
		{"", state(stateEmpty), 0},
	}},
	{"leaving", append(slices.Clone(stableAB),
		step{"b leaves (v0)", leave(0, "b", nil), 0},
		step{"a hears of the rebalance", heartbeat("a", 0), kerr.RebalanceInProgress.Code},
		step{"b leaves again (v5)", leave(5, "b", nil), kerr.UnknownMemberID.Code},
		step{"a rejoins alone", join("a", 5), 0},
		step{"", syncGroup("a"), 0},
		step{"a leaves (v5)", leave(5, "a", nil), 0},
		step{"", state(stateEmpty), 0},
		step{"a simple commit to the empty group", commit("", 0), 0},
	)},
	{"a member that does not rejoin in the rebalance timeout", append(slices.Clone(stableAB),
		step{"a follower rejoining unchanged gets the current generation", join("b", 5), 0},
		step{"b rejoins with new metadata, a does not", custom("b", 5, func(r *kmsg.JoinGroupRequest) { r.Protocols[0].Metadata = []byte("new") }), pending},
		step{"the timeout completes the join without a", awaitJoin("b"), 0},
		step{"", heartbeat("a", 0), kerr.UnknownMemberID.Code},
		step{"", check("b leads generation 3 alone", func(h *harness) bool {
			return h.gen["b"] == 3 && h.resps["b"].LeaderID == h.ids["b"] && len(h.resps["b"].Members) == 1
		}), 0},
	)},
	{"session expiry", append(slices.Clone(stableAB),
		step{"b's session expires", expire("b"), 0},
		step{"", heartbeat("b", 0), kerr.UnknownMemberID.Code},
		step{"", heartbeat("a", 0), kerr.RebalanceInProgress.Code},
		step{"a rejoins alone", join("a", 5), 0},
	)},
	{"bad joins", []step{
		{"session timeout below the service's 6 s", custom("a", 5, func(r *kmsg.JoinGroupRequest) { r.SessionTimeoutMillis = 1000 }), kerr.InvalidSessionTimeout.Code},
		{"empty group id", custom("a", 5, func(r *kmsg.JoinGroupRequest) { r.Group = "" }), kerr.InvalidGroupID.Code},
		{"no protocols", custom("a", 5, func(r *kmsg.JoinGroupRequest) { r.Protocols = nil }), kerr.InconsistentGroupProtocol.Code},
		{"a joins", join("a", 3, "range"), 0},
		{"b shares no protocol with a", join("b", 3, "roundrobin"), kerr.InconsistentGroupProtocol.Code},
		{"c has another protocol type", custom("c", 3, func(r *kmsg.JoinGroupRequest) { r.ProtocolType = "connect" }), kerr.InconsistentGroupProtocol.Code},
	}},
	{"protocol: the leader's first that every member supports", []step{
		{"a prefers x", join("a", 3, "x", "y", "z"), 0},
		{"", syncGroup("a"), 0},
		{"b prefers y, lacks z", join("b", 3, "y", "x"), pending},
		{"", join("a", 3, "x", "y", "z"), 0},
		{"", awaitJoin("b"), 0},
		{"", check("protocol x", func(h *harness) bool { return *h.resps["b"].Protocol == "x" }), 0},
	}},
	{"static members", []step{
		{"a static member needs no member id round", custom("a", 5, func(r *kmsg.JoinGroupRequest) { r.InstanceID = kmsg.StringPtr("i1") }), 0},
		{"", syncGroup("a"), 0},
		{"leaving with the instance id of another member id", func(h *harness) int16 {
			h.ids["z"] = "someone-else"
			return leave(4, "z", kmsg.StringPtr("i1"))(h)
		}, kerr.FencedInstanceID.Code},
		{"leaving by instance id", leave(4, "a", kmsg.StringPtr("i1")), 0},
	}},
	{"closing answers waiting joins", append(slices.Clone(stableA),
		step{"", join("b", 3), pending},
		step{"", func(h *harness) int16 { h.co.Close(); return 0 }, 0},
		step{"", awaitJoin("b"), kerr.CoordinatorNotAvailable.Code},
	)},
}

func TestGroupStateMachine(t *testing.T) {
	for _, tc := range stateMachineCases {
		t.Run(tc.name, func(t *testing.T) {
			co, _ := OpenGroups("")
			defer co.Close()
			h := &harness{t: t, co: co, ids: map[string]string{}, gen: map[string]int32{}, resps: map[string]*kmsg.JoinGroupResponse{},
				joins: map[string]<-chan *kmsg.JoinGroupResponse{}, syncs: map[string]<-chan *kmsg.SyncGroupResponse{}}
			for i, s := range tc.steps {
				if got := s.run(h); got != s.want {
					t.Fatalf("step %d (%s): code %d (%v), want %d (%v)", i, s.desc, got, kerr.ErrorForCode(got), s.want, kerr.ErrorForCode(s.want))
				}
			}
		})
	}
}
