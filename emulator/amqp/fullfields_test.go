package amqp

import (
	"testing"
)

// TestPerformativesCarryEveryField: whatever a performative (or an error,
// which pyamqp reads by position too) holds, the
// encoder writes every field the specification defines, as the service
// does, for SDKs that read fields by position. Zero values are the case
// that would otherwise leave the most out.
func TestPerformativesCarryEveryField(t *testing.T) {
	for _, c := range []struct {
		p    Marshaler
		want int
	}{
		{&Open{}, 10},
		{&Begin{}, 8},
		{&Attach{}, 14},
		{&Attach{Role: RoleReceiver}, 14},
		{&Flow{}, 11},
		{&Transfer{}, 11},
		{&Disposition{}, 6},
		{&Detach{}, 3},
		{&End{}, 1},
		{&Close{}, 1},
		{&SASLMechanisms{}, 1},
		{&SASLOutcome{}, 2},
		{&Error{Condition: "amqp:not-found"}, 3},
	} {
		b, err := c.p.AppendAMQP(nil)
		if err != nil {
			t.Fatalf("%T: %v", c.p, err)
		}
		d, ok := mustDecode(t, b).(Described)
		list, isList := d.Value.([]any)
		if !ok || !isList {
			t.Fatalf("%T encodes as %#v", c.p, d)
		}
		if len(list) != c.want {
			t.Errorf("%T has %d fields, want %d", c.p, len(list), c.want)
			continue
		}
		if a, ok := c.p.(*Attach); ok {
			if size, ok := list[10].(uint64); !ok || size != a.MaxMessageSize {
				t.Errorf("attach max-message-size is %#v, want the ulong %d", list[10], a.MaxMessageSize)
			}
		}
	}
	for _, first := range []bool{true, false} {
		b := AppendTransferFrame(nil, 0, 1, first, 2, []byte{3}, true, first, []byte{0xaa})
		d := mustDecode(t, b[8:len(b)-1]).(Described)
		if list := d.Value.([]any); len(list) != 11 {
			t.Errorf("AppendTransferFrame (first %v) has %d fields, want 11", first, len(list))
		}
	}
}
