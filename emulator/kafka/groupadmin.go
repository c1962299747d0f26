package kafka

import (
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// commitAllowed is the error, if any, for an OffsetCommit from this member
// and generation. A commit with generation -1 and no member is a simple
// (group-less) consumer's, allowed while the group has no members. During
// PreparingRebalance the current generation may still commit, as Kafka
// lets consumers commit before they rejoin.
func (co *Groups) commitAllowed(req *kmsg.OffsetCommitRequest) *kerr.Error {
	if co.closed {
		return kerr.CoordinatorNotAvailable
	}
	if req.Group == "" {
		return kerr.InvalidGroupID
	}
	if g := co.groups[req.Group]; req.Generation < 0 && req.MemberID == "" && (g == nil || len(g.members) == 0) {
		co.groupFor(req.Group) // a simple consumer's group is created on use too
		return nil
	}
	g, _, err := co.member(req.Group, req.MemberID, req.Generation)
	if err == nil && g.state == stateCompleting {
		err = kerr.RebalanceInProgress
	}
	return err
}

// commit handles OffsetCommit; partitions gives a topic's partition count
// (-1 for none), so that commits for unknown partitions are refused. The
// accepted offsets are stored together; if that fails, they all get
// KAFKA_STORAGE_ERROR.
func (co *Groups) commit(req *kmsg.OffsetCommitRequest, partitions func(string) int) *kmsg.OffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	co.mu.Lock()
	refused := co.commitAllowed(req)
	co.mu.Unlock()
	offsets := groupOffsets{}
	for _, rt := range req.Topics {
		t := kmsg.NewOffsetCommitResponseTopic()
		n := partitions(rt.Topic)
		t.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			p := kmsg.NewOffsetCommitResponseTopicPartition()
			p.Partition = rp.Partition
			switch {
			case refused != nil:
				p.ErrorCode = refused.Code
			case rp.Partition < 0 || int(rp.Partition) >= n:
				p.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				if offsets[rt.Topic] == nil {
					offsets[rt.Topic] = map[int32]committed{}
				}
				offsets[rt.Topic][rp.Partition] = committed{Offset: rp.Offset, LeaderEpoch: rp.LeaderEpoch, Metadata: rp.Metadata}
			}
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	if len(offsets) > 0 && co.offsets.commit(req.Group, offsets) != nil {
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				if p := &resp.Topics[i].Partitions[j]; p.ErrorCode == 0 {
					p.ErrorCode = kerr.KafkaStorageError.Code
				}
			}
		}
	}
	return resp
}

// fetchOffsets is one group's OffsetFetch answer: the partitions asked
// for, or all it committed when topics is nil; -1 where nothing was
// committed.
func (co *Groups) fetchOffsets(group string, topics []kmsg.OffsetFetchRequestGroupTopic) []kmsg.OffsetFetchResponseGroupTopic {
	if topics == nil {
		for t, ps := range co.offsets.topics(group) {
			rt := kmsg.NewOffsetFetchRequestGroupTopic()
			rt.Topic, rt.Partitions = t, ps
			topics = append(topics, rt)
		}
		slices.SortFunc(topics, func(a, b kmsg.OffsetFetchRequestGroupTopic) int { return strings.Compare(a.Topic, b.Topic) })
	}
	var out []kmsg.OffsetFetchResponseGroupTopic
	for _, rt := range topics {
		t := kmsg.NewOffsetFetchResponseGroupTopic()
		t.Topic = rt.Topic
		for _, p := range rt.Partitions {
			rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch = p, -1, -1
			if c, ok := co.offsets.fetch(group, rt.Topic, p); ok {
				rp.Offset, rp.LeaderEpoch, rp.Metadata = c.Offset, c.LeaderEpoch, c.Metadata
			}
			t.Partitions = append(t.Partitions, rp)
		}
		out = append(out, t)
	}
	return out
}

// describe is DescribeGroups' answer for one group; an unknown group is
// reported Dead, as Kafka does.
func (co *Groups) describe(name string) kmsg.DescribeGroupsResponseGroup {
	d := kmsg.NewDescribeGroupsResponseGroup()
	d.Group, d.State = name, string(stateDead)
	co.mu.Lock()
	defer co.mu.Unlock()
	g := co.groups[name]
	if g == nil {
		if slices.Contains(co.offsets.names(), name) {
			d.State = string(stateEmpty)
		}
		return d
	}
	d.State, d.ProtocolType, d.Protocol = string(g.state), g.protocolType, g.protocol
	for _, m := range g.members {
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID, dm.InstanceID, dm.ClientID, dm.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
		dm.MemberAssignment = m.assignment
		for _, p := range m.protocols {
			if p.Name == g.protocol {
				dm.ProtocolMetadata = p.Metadata
			}
		}
		d.Members = append(d.Members, dm)
	}
	return d
}

// list is ListGroups' answer: the groups in use and those with committed
// offsets (Empty after a restart), filtered by state when asked.
func (co *Groups) list(states []string) []kmsg.ListGroupsResponseGroup {
	co.mu.Lock()
	defer co.mu.Unlock()
	seen := map[string]groupState{}
	for _, name := range co.offsets.names() {
		seen[name] = stateEmpty
	}
	types := map[string]string{}
	for name, g := range co.groups {
		seen[name], types[name] = g.state, g.protocolType
	}
	var out []kmsg.ListGroupsResponseGroup
	for _, name := range slices.Sorted(maps.Keys(seen)) {
		if len(states) > 0 && !slices.ContainsFunc(states, func(s string) bool { return strings.EqualFold(s, string(seen[name])) }) {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = name, types[name], string(seen[name]), "classic"
		out = append(out, lg)
	}
	return out
}

// deleteGroup forgets an empty group and its offsets: NON_EMPTY_GROUP
// while it has members, GROUP_ID_NOT_FOUND when it is unknown.
func (co *Groups) deleteGroup(name string) *kerr.Error {
	co.mu.Lock()
	defer co.mu.Unlock()
	g := co.groups[name]
	switch {
	case g != nil && len(g.members) > 0:
		return kerr.NonEmptyGroup
	case g == nil && !slices.Contains(co.offsets.names(), name):
		return kerr.GroupIDNotFound
	}
	if err := co.offsets.forget(name); err != nil {
		return kerr.KafkaStorageError
	}
	delete(co.groups, name)
	return nil
}
