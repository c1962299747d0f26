package kafka

import (
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// coordinatorTypeTransaction is FindCoordinator's key type for a
// transactional id (0 is a group).
const coordinatorTypeTransaction = 1

// findCoordinator names this broker as every group's coordinator, in the
// single (v0–v3) and the batched (v4+) forms. Transactional ids get
// COORDINATOR_NOT_AVAILABLE: the emulator, like the service's Standard
// tier, has no transactions.
func (c *conn) findCoordinator(req *kmsg.FindCoordinatorRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	host, port := c.advertised()
	answer := func(key string) (code int16, msg *string) {
		switch {
		case req.CoordinatorType == coordinatorTypeTransaction:
			return kerr.CoordinatorNotAvailable.Code, kmsg.StringPtr("the emulator serves no Kafka transactions")
		case req.CoordinatorType != 0:
			return kerr.InvalidRequest.Code, kmsg.StringPtr("unknown coordinator type " + strconv.Itoa(int(req.CoordinatorType)))
		case key == "":
			return kerr.InvalidRequest.Code, kmsg.StringPtr("an empty group id")
		}
		return 0, nil
	}
	if req.Version < 4 {
		resp.ErrorCode, resp.ErrorMessage = answer(req.CoordinatorKey)
		resp.NodeID, resp.Host, resp.Port = brokerID, host, port
		return resp
	}
	for _, key := range req.CoordinatorKeys {
		rc := kmsg.NewFindCoordinatorResponseCoordinator()
		rc.Key, rc.NodeID, rc.Host, rc.Port = key, brokerID, host, port
		rc.ErrorCode, rc.ErrorMessage = answer(key)
		resp.Coordinators = append(resp.Coordinators, rc)
	}
	return resp
}

// advertised is the broker's address as this client reached it: what
// Metadata and FindCoordinator name.
func (c *conn) advertised() (host string, port int32) {
	host, portStr, _ := net.SplitHostPort(c.nc.LocalAddr().String())
	p, _ := strconv.Atoi(portStr)
	return host, int32(p)
}

func (c *conn) client() client {
	host, _, _ := net.SplitHostPort(c.nc.RemoteAddr().String())
	return client{id: c.clientID, host: "/" + host}
}

// joinGroup answers JoinGroup, waiting for the rebalance to complete.
func (c *conn) joinGroup(req *kmsg.JoinGroupRequest) kmsg.Response {
	resp, wait := c.srv.groups.join(req, c.client())
	return await(c, resp, wait, func() *kmsg.JoinGroupResponse {
		r := kmsg.NewPtrJoinGroupResponse()
		r.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return r
	})
}

// syncGroup answers SyncGroup, waiting for the leader's assignment.
func (c *conn) syncGroup(req *kmsg.SyncGroupRequest) kmsg.Response {
	resp, wait := c.srv.groups.sync(req)
	return await(c, resp, wait, func() *kmsg.SyncGroupResponse {
		r := kmsg.NewPtrSyncGroupResponse()
		r.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return r
	})
}

// await is a group request's answer: now, or what comes on wait once the
// other members have done their part; closing the Server ends the wait
// with closed's answer.
func await[R any](c *conn, now R, wait <-chan R, closed func() R) R {
	if wait == nil {
		return now
	}
	select {
	case r := <-wait:
		return r
	case <-c.srv.stop:
		return closed()
	}
}

// partitionCount is a topic's partition count, -1 when there is no such
// topic.
func (c *conn) partitionCount(topic string) int {
	logs, ok := c.srv.backend.Topic(topic)
	if !ok {
		return -1
	}
	return len(logs)
}

func (c *conn) offsetCommit(req *kmsg.OffsetCommitRequest) kmsg.Response {
	return c.srv.groups.commit(req, c.partitionCount)
}

// offsetFetch answers for one group (v1–v7) or a batch of them (v8).
func (c *conn) offsetFetch(req *kmsg.OffsetFetchRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			g := kmsg.NewOffsetFetchResponseGroup()
			g.Group, g.Topics = rg.Group, c.srv.groups.fetchOffsets(rg.Group, rg.Topics)
			resp.Groups = append(resp.Groups, g)
		}
		return resp
	}
	var topics []kmsg.OffsetFetchRequestGroupTopic
	for _, rt := range req.Topics {
		gt := kmsg.NewOffsetFetchRequestGroupTopic()
		gt.Topic, gt.Partitions = rt.Topic, rt.Partitions
		topics = append(topics, gt)
	}
	for _, gt := range c.srv.groups.fetchOffsets(req.Group, topics) {
		t := kmsg.NewOffsetFetchResponseTopic()
		t.Topic = gt.Topic
		for _, gp := range gt.Partitions {
			p := kmsg.NewOffsetFetchResponseTopicPartition()
			p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode = gp.Partition, gp.Offset, gp.LeaderEpoch, gp.Metadata, gp.ErrorCode
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}

func (c *conn) describeGroups(req *kmsg.DescribeGroupsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, name := range req.Groups {
		resp.Groups = append(resp.Groups, c.srv.groups.describe(name))
	}
	return resp
}

func (c *conn) listGroups(req *kmsg.ListGroupsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	resp.Groups = c.srv.groups.list(req.StatesFilter)
	return resp
}

func (c *conn) deleteGroups(req *kmsg.DeleteGroupsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, name := range req.Groups {
		g := kmsg.NewDeleteGroupsResponseGroup()
		g.Group = name
		if err := c.srv.groups.deleteGroup(name); err != nil {
			g.ErrorCode = err.Code
		}
		resp.Groups = append(resp.Groups, g)
	}
	return resp
}

// groupHandlers are the handlers of the group coordinator's requests.
var groupHandlers = map[kmsg.Key]handler{
	kmsg.FindCoordinator: func(c *conn, r kmsg.Request) kmsg.Response {
		return c.findCoordinator(r.(*kmsg.FindCoordinatorRequest))
	},
	kmsg.JoinGroup: func(c *conn, r kmsg.Request) kmsg.Response { return c.joinGroup(r.(*kmsg.JoinGroupRequest)) },
	kmsg.SyncGroup: func(c *conn, r kmsg.Request) kmsg.Response { return c.syncGroup(r.(*kmsg.SyncGroupRequest)) },
	kmsg.Heartbeat: func(c *conn, r kmsg.Request) kmsg.Response {
		return c.srv.groups.heartbeat(r.(*kmsg.HeartbeatRequest))
	},
	kmsg.LeaveGroup:     func(c *conn, r kmsg.Request) kmsg.Response { return c.srv.groups.leave(r.(*kmsg.LeaveGroupRequest)) },
	kmsg.OffsetCommit:   func(c *conn, r kmsg.Request) kmsg.Response { return c.offsetCommit(r.(*kmsg.OffsetCommitRequest)) },
	kmsg.OffsetFetch:    func(c *conn, r kmsg.Request) kmsg.Response { return c.offsetFetch(r.(*kmsg.OffsetFetchRequest)) },
	kmsg.DescribeGroups: func(c *conn, r kmsg.Request) kmsg.Response { return c.describeGroups(r.(*kmsg.DescribeGroupsRequest)) },
	kmsg.ListGroups:     func(c *conn, r kmsg.Request) kmsg.Response { return c.listGroups(r.(*kmsg.ListGroupsRequest)) },
	kmsg.DeleteGroups:   func(c *conn, r kmsg.Request) kmsg.Response { return c.deleteGroups(r.(*kmsg.DeleteGroupsRequest)) },
}

// groupHandler is a group request's handler behind the check that the
// connection may read (Listen), as consumer groups need on Event Hubs;
// without it every group in the request is refused with
// GROUP_AUTHORIZATION_FAILED.
func groupHandler(k kmsg.Key) handler {
	h := groupHandlers[k]
	if h == nil {
		return nil
	}
	return func(c *conn, r kmsg.Request) kmsg.Response {
		if c.access.Listen {
			return h(c, r)
		}
		return groupRefused(r, kerr.GroupAuthorizationFailed.Code)
	}
}

// groupRefused answers a group request with code for each of its groups.
func groupRefused(r kmsg.Request, code int16) kmsg.Response {
	switch req := r.(type) {
	case *kmsg.FindCoordinatorRequest:
		resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
		resp.ErrorCode = code
		for _, key := range req.CoordinatorKeys {
			rc := kmsg.NewFindCoordinatorResponseCoordinator()
			rc.Key, rc.ErrorCode = key, code
			resp.Coordinators = append(resp.Coordinators, rc)
		}
		return resp
	case *kmsg.OffsetCommitRequest:
		resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range req.Topics {
			t := kmsg.NewOffsetCommitResponseTopic()
			t.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				p := kmsg.NewOffsetCommitResponseTopicPartition()
				p.Partition, p.ErrorCode = rp.Partition, code
				t.Partitions = append(t.Partitions, p)
			}
			resp.Topics = append(resp.Topics, t)
		}
		return resp
	case *kmsg.OffsetFetchRequest:
		resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
		resp.ErrorCode = code
		for _, rg := range req.Groups {
			g := kmsg.NewOffsetFetchResponseGroup()
			g.Group, g.ErrorCode = rg.Group, code
			resp.Groups = append(resp.Groups, g)
		}
		return resp
	case *kmsg.DescribeGroupsRequest:
		resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
		for _, name := range req.Groups {
			g := kmsg.NewDescribeGroupsResponseGroup()
			g.Group, g.ErrorCode = name, code
			resp.Groups = append(resp.Groups, g)
		}
		return resp
	case *kmsg.DeleteGroupsRequest:
		resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
		for _, name := range req.Groups {
			g := kmsg.NewDeleteGroupsResponseGroup()
			g.Group, g.ErrorCode = name, code
			resp.Groups = append(resp.Groups, g)
		}
		return resp
	}
	return singleErrorResponse(r, code)
}

// singleErrorResponse answers the group requests whose response has one
// error code for the whole request.
func singleErrorResponse(r kmsg.Request, code int16) kmsg.Response {
	resp := r.ResponseKind()
	switch resp := resp.(type) {
	case *kmsg.JoinGroupResponse:
		resp.ErrorCode, resp.MemberID = code, ""
	case *kmsg.SyncGroupResponse:
		resp.ErrorCode = code
	case *kmsg.HeartbeatResponse:
		resp.ErrorCode = code
	case *kmsg.LeaveGroupResponse:
		resp.ErrorCode = code
	case *kmsg.ListGroupsResponse:
		resp.ErrorCode = code
	}
	return resp
}
