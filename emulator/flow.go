package emulator

// Flow control on the links the emulator sends on, as AMQP 1.0 section
// 2.6.7 has it for the sending end. The functions here do no I/O, so the
// rules can be tested against a model of the specification
// (FuzzFlowControl).

// senderFlow is a sending link's flow state.
type senderFlow struct {
	deliveryCount uint32
	credit        uint32
	// drainDue: the receiver's last flow set drain and it is not answered
	// yet. The answer (idle) consumes the credit left and must go out even
	// when there was none, or a client waiting for it hangs.
	drainDue bool
}

// onFlow applies the link fields of a flow from the receiver. The receiver
// counts credit from its own delivery-count, which lags ours by the
// transfers still on their way to it; what is left for us is its delivery
// limit (delivery-count + link-credit) minus our delivery-count, and none
// when the transfers in flight already reach that limit. A nil
// delivery-count means the receiver has not seen our attach, so it counts
// from our initial delivery-count, 0. A nil link-credit leaves the credit
// as it was.
//
// go-amqp 1.5 does not take the delivery-count from a drain's answer, so
// after a drain that consumed unused credit its next flow counts from a
// stale delivery-count and gets that much less credit, from the emulator
// as from any sender that follows the specification. azeventhubs never
// drains.
func (s *senderFlow) onFlow(deliveryCount, linkCredit *uint32, drain bool) {
	if linkCredit != nil {
		base := uint32(0)
		if deliveryCount != nil {
			base = *deliveryCount
		}
		s.credit = creditLeft(base, *linkCredit, s.deliveryCount)
	}
	s.drainDue = drain
}

// creditLeft is base + credit - count, where base and count are serial
// numbers (RFC 1982) and count may be past base: clamped at 0 instead of
// wrapping to about 4 billion, and at the largest uint32 when count is
// behind base, which only a receiver counting deliveries that were never
// sent can cause.
func creditLeft(base, credit, count uint32) uint32 {
	if behind := count - base; behind < 1<<31 {
		return credit - min(credit, behind)
	}
	ahead := base - count
	return credit + min(ahead, ^uint32(0)-credit)
}

// transferred counts one delivery sent; the caller checked credit > 0.
func (s *senderFlow) transferred() {
	s.deliveryCount++
	s.credit--
}

// idle is called whenever the link sends nothing more for now: nothing to
// send, no credit or no room in the session window. When a drain is due it
// consumes the credit left and reports that a flow with drain set must go
// out now, carrying the new delivery-count and no credit.
func (s *senderFlow) idle() (answerDrain bool) {
	if !s.drainDue {
		return false
	}
	s.deliveryCount += s.credit
	s.credit = 0
	s.drainDue = false
	return true
}
