package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// brokerID is the one broker the endpoint is: leader of every partition.
const brokerID = 0

// metadata describes the broker (at the address this client reached) and
// the hubs asked for, all of them when the request names none. Topics are
// never created through Kafka, as in the service: an unknown one is
// UNKNOWN_TOPIC_OR_PARTITION.
func (c *conn) metadata(req *kmsg.MetadataRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	b := kmsg.NewMetadataResponseBroker()
	b.NodeID = brokerID
	b.Host, b.Port = c.advertised()
	resp.Brokers = append(resp.Brokers, b)
	resp.ControllerID = brokerID
	resp.ClusterID = kmsg.StringPtr("ehstream-emulator")
	names := c.visibleTopics()
	if req.Topics != nil {
		names = names[:0:0]
		for _, t := range req.Topics {
			if t.Topic != nil {
				names = append(names, *t.Topic)
			}
		}
	}
	for _, name := range names {
		resp.Topics = append(resp.Topics, c.topicMetadata(name))
	}
	return resp
}

func (c *conn) topicMetadata(name string) kmsg.MetadataResponseTopic {
	t := kmsg.NewMetadataResponseTopic()
	t.Topic = kmsg.StringPtr(name)
	if !c.access.allows(name, RightAny) {
		t.ErrorCode = kerr.TopicAuthorizationFailed.Code
		return t
	}
	logs, ok := c.srv.backend.Topic(name)
	if !ok {
		t.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return t
	}
	for i := range logs {
		p := kmsg.NewMetadataResponseTopicPartition()
		p.Partition, p.Leader, p.LeaderEpoch = int32(i), brokerID, 0
		p.Replicas, p.ISR = []int32{brokerID}, []int32{brokerID}
		t.Partitions = append(t.Partitions, p)
	}
	return t
}

// visibleTopics are the hubs a connection limited to one (its connection
// string's EntityPath) sees when it asks for all.
func (c *conn) visibleTopics() []string {
	var names []string
	for _, name := range c.srv.backend.Topics() {
		if c.access.allows(name, RightAny) {
			names = append(names, name)
		}
	}
	return names
}
