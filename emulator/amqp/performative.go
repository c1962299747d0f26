package amqp

import (
	"fmt"
)

// Descriptor codes of the performatives and the composites inside them.
const (
	DescOpen        = 0x10
	DescBegin       = 0x11
	DescAttach      = 0x12
	DescFlow        = 0x13
	DescTransfer    = 0x14
	DescDisposition = 0x15
	DescDetach      = 0x16
	DescEnd         = 0x17
	DescClose       = 0x18
	DescError       = 0x1d
	DescReceived    = 0x23
	DescAccepted    = 0x24
	DescRejected    = 0x25
	DescReleased    = 0x26
	DescModified    = 0x27
	DescSource      = 0x28
	DescTarget      = 0x29
)

// Settlement modes.
const (
	SenderSettleUnsettled uint8 = 0
	SenderSettleSettled   uint8 = 1
	SenderSettleMixed     uint8 = 2
	ReceiverSettleFirst   uint8 = 0
	ReceiverSettleSecond  uint8 = 1
)

// Roles on attach and disposition.
const (
	RoleSender   = false
	RoleReceiver = true
)

// Performative is one of the frame bodies of the AMQP transport.
type Performative interface {
	Marshaler
	performative()
}

type Open struct {
	ContainerID         string
	Hostname            string
	MaxFrameSize        uint32 // 0 when absent means the default, 4294967295
	ChannelMax          uint16
	IdleTimeout         uint32 // milliseconds; 0 = none
	OfferedCapabilities []Symbol
	DesiredCapabilities []Symbol
	Properties          Map
}

type Begin struct {
	RemoteChannel  *uint16
	NextOutgoingID uint32
	IncomingWindow uint32
	OutgoingWindow uint32
	HandleMax      uint32
	Properties     Map
}

type Attach struct {
	Name                 string
	Handle               uint32
	Role                 bool
	SndSettleMode        *uint8
	RcvSettleMode        *uint8
	Source               *Source
	Target               *Target
	InitialDeliveryCount uint32
	MaxMessageSize       uint64
	OfferedCapabilities  []Symbol
	DesiredCapabilities  []Symbol
	Properties           Map
}

type Source struct {
	Address      string
	Durable      uint32
	ExpiryPolicy Symbol
	Timeout      uint32
	Dynamic      bool
	Filter       Map
	Capabilities []Symbol
}

type Target struct {
	Address      string
	Durable      uint32
	ExpiryPolicy Symbol
	Timeout      uint32
	Dynamic      bool
	Capabilities []Symbol
}

type Flow struct {
	NextIncomingID *uint32
	IncomingWindow uint32
	NextOutgoingID uint32
	OutgoingWindow uint32
	Handle         *uint32
	DeliveryCount  *uint32
	LinkCredit     *uint32
	Available      *uint32
	Drain          bool
	Echo           bool
	Properties     Map
}

type Transfer struct {
	Handle        uint32
	DeliveryID    *uint32
	DeliveryTag   []byte
	MessageFormat *uint32
	Settled       bool
	More          bool
	RcvSettleMode *uint8
	State         any
	Resume        bool
	Aborted       bool
	Batchable     bool
	// Payload is the part of the frame after the performative: a slice of
	// the frame buffer, valid until the next frame is read.
	Payload []byte
}

type Disposition struct {
	Role      bool
	First     uint32
	Last      *uint32
	Settled   bool
	State     any // *Accepted, *Rejected, ... or nil
	Batchable bool
}

type Detach struct {
	Handle uint32
	Closed bool
	Error  *Error
}

type End struct{ Error *Error }

type Close struct{ Error *Error }

// Error is an AMQP error condition.
type Error struct {
	Condition   Symbol
	Description string
	Info        Map
}

func (e *Error) Error() string {
	if e.Description == "" {
		return string(e.Condition)
	}
	return fmt.Sprintf("%s: %s", e.Condition, e.Description)
}

// Delivery states the emulator sends or receives.
type Accepted struct{}
type Rejected struct{ Error *Error }
type Released struct{}
type Modified struct {
	DeliveryFailed    bool
	UndeliverableHere bool
}

func (*Open) performative()        {}
func (*Begin) performative()       {}
func (*Attach) performative()      {}
func (*Flow) performative()        {}
func (*Transfer) performative()    {}
func (*Disposition) performative() {}
func (*Detach) performative()      {}
func (*End) performative()         {}
func (*Close) performative()       {}

func (p *Open) AppendAMQP(b []byte) ([]byte, error) {
	var maxFrame any
	if p.MaxFrameSize != 0 {
		maxFrame = p.MaxFrameSize
	}
	var idle any
	if p.IdleTimeout != 0 {
		idle = p.IdleTimeout
	}
	return appendAllFields(b, DescOpen, []any{
		p.ContainerID, nilIfEmpty(p.Hostname), maxFrame, p.ChannelMax, idle,
		nil, nil, symbolsValue(p.OfferedCapabilities), symbolsValue(p.DesiredCapabilities), mapOrNil(p.Properties),
	})
}

func (p *Begin) AppendAMQP(b []byte) ([]byte, error) {
	var remote any
	if p.RemoteChannel != nil {
		remote = *p.RemoteChannel
	}
	return appendAllFields(b, DescBegin, []any{
		remote, p.NextOutgoingID, p.IncomingWindow, p.OutgoingWindow, p.HandleMax,
		nil, nil, mapOrNil(p.Properties),
	})
}

// AppendAMQP writes max-message-size even when it is 0 (no limit): the
// service always sends it, and some SDKs read it by position.
func (p *Attach) AppendAMQP(b []byte) ([]byte, error) {
	var snd, rcv, src, tgt any
	if p.SndSettleMode != nil {
		snd = *p.SndSettleMode
	}
	if p.RcvSettleMode != nil {
		rcv = *p.RcvSettleMode
	}
	if p.Source != nil {
		src = p.Source
	}
	if p.Target != nil {
		tgt = p.Target
	}
	var initial any
	if !p.Role { // a sender (role false) states its initial delivery count
		initial = p.InitialDeliveryCount
	}
	return appendAllFields(b, DescAttach, []any{
		p.Name, p.Handle, p.Role, snd, rcv, src, tgt, nil, nil, initial, p.MaxMessageSize,
		symbolsValue(p.OfferedCapabilities), symbolsValue(p.DesiredCapabilities), mapOrNil(p.Properties),
	})
}

func (s *Source) AppendAMQP(b []byte) ([]byte, error) {
	return appendComposite(b, DescSource, []any{
		nilIfEmpty(s.Address), nonZeroU32(s.Durable, 0), symbolOrNil(s.ExpiryPolicy), nonZeroU32(s.Timeout, 0),
		boolOrNil(s.Dynamic), nil, nil, mapOrNil(s.Filter), nil, nil, symbolsValue(s.Capabilities),
	})
}

func (t *Target) AppendAMQP(b []byte) ([]byte, error) {
	return appendComposite(b, DescTarget, []any{
		nilIfEmpty(t.Address), nonZeroU32(t.Durable, 0), symbolOrNil(t.ExpiryPolicy), nonZeroU32(t.Timeout, 0),
		boolOrNil(t.Dynamic), nil, symbolsValue(t.Capabilities),
	})
}

func (p *Flow) AppendAMQP(b []byte) ([]byte, error) {
	return appendAllFields(b, DescFlow, []any{
		optU32(p.NextIncomingID), p.IncomingWindow, p.NextOutgoingID, p.OutgoingWindow,
		optU32(p.Handle), optU32(p.DeliveryCount), optU32(p.LinkCredit), optU32(p.Available),
		boolOrNil(p.Drain), boolOrNil(p.Echo), mapOrNil(p.Properties),
	})
}

func (p *Transfer) AppendAMQP(b []byte) ([]byte, error) {
	var tag, state, rcv any
	if p.DeliveryTag != nil {
		tag = p.DeliveryTag
	}
	if p.State != nil {
		state = p.State
	}
	if p.RcvSettleMode != nil {
		rcv = *p.RcvSettleMode
	}
	b, err := appendAllFields(b, DescTransfer, []any{
		p.Handle, optU32(p.DeliveryID), tag, optU32(p.MessageFormat), boolOrNil(p.Settled), boolOrNil(p.More),
		rcv, state, boolOrNil(p.Resume), boolOrNil(p.Aborted), boolOrNil(p.Batchable),
	})
	if err != nil {
		return nil, err
	}
	return append(b, p.Payload...), nil
}

func (p *Disposition) AppendAMQP(b []byte) ([]byte, error) {
	return appendAllFields(b, DescDisposition, []any{
		p.Role, p.First, optU32(p.Last), boolOrNil(p.Settled), p.State, boolOrNil(p.Batchable),
	})
}

func (p *Detach) AppendAMQP(b []byte) ([]byte, error) {
	return appendAllFields(b, DescDetach, []any{p.Handle, boolOrNil(p.Closed), errorOrNil(p.Error)})
}

func (p *End) AppendAMQP(b []byte) ([]byte, error) {
	return appendAllFields(b, DescEnd, []any{errorOrNil(p.Error)})
}

func (p *Close) AppendAMQP(b []byte) ([]byte, error) {
	return appendAllFields(b, DescClose, []any{errorOrNil(p.Error)})
}

func (e *Error) AppendAMQP(b []byte) ([]byte, error) {
	return appendAllFields(b, DescError, []any{e.Condition, nilIfEmpty(e.Description), mapOrNil(e.Info)})
}

func (*Accepted) AppendAMQP(b []byte) ([]byte, error) {
	return appendComposite(b, DescAccepted, nil)
}

func (r *Rejected) AppendAMQP(b []byte) ([]byte, error) {
	return appendComposite(b, DescRejected, []any{errorOrNil(r.Error)})
}

func (*Released) AppendAMQP(b []byte) ([]byte, error) {
	return appendComposite(b, DescReleased, nil)
}

func (m *Modified) AppendAMQP(b []byte) ([]byte, error) {
	return appendComposite(b, DescModified, []any{boolOrNil(m.DeliveryFailed), boolOrNil(m.UndeliverableHere)})
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func symbolOrNil(s Symbol) any {
	if s == "" {
		return nil
	}
	return s
}

func boolOrNil(v bool) any {
	if !v {
		return nil
	}
	return true
}

func errorOrNil(e *Error) any {
	if e == nil {
		return nil
	}
	return e
}

// DecodePerformative decodes a frame body (after the frame header) into a
// performative. For a transfer, the bytes after the performative become its
// Payload.
func DecodePerformative(body []byte) (Performative, error) {
	d := NewDecoder(body)
	code, list, err := d.composite()
	if err != nil {
		return nil, err
	}
	f := &fields{list: list}
	var p Performative
	switch code {
	case DescOpen:
		f.what = "open"
		p = &Open{
			ContainerID:         f.string(0),
			Hostname:            f.string(1),
			MaxFrameSize:        f.uint32(2, 0xffffffff),
			ChannelMax:          f.uint16(3, 0xffff),
			IdleTimeout:         f.uint32(4, 0),
			OfferedCapabilities: f.symbols(7),
			DesiredCapabilities: f.symbols(8),
			Properties:          f.mapValue(9),
		}
	case DescBegin:
		f.what = "begin"
		p = &Begin{
			RemoteChannel:  f.optUint16(0),
			NextOutgoingID: f.uint32(1, 0),
			IncomingWindow: f.uint32(2, 0),
			OutgoingWindow: f.uint32(3, 0),
			HandleMax:      f.uint32(4, 0xffffffff),
			Properties:     f.mapValue(7),
		}
	case DescAttach:
		f.what = "attach"
		a := &Attach{
			Name:                 f.string(0),
			Handle:               f.uint32(1, 0),
			Role:                 f.bool(2, false),
			SndSettleMode:        f.optUbyte(3),
			RcvSettleMode:        f.optUbyte(4),
			InitialDeliveryCount: f.uint32(9, 0),
			MaxMessageSize:       f.uint64(10, 0),
			OfferedCapabilities:  f.symbols(11),
			DesiredCapabilities:  f.symbols(12),
			Properties:           f.mapValue(13),
		}
		if sf := f.described(5, DescSource, "source"); sf != nil {
			a.Source = &Source{
				Address: sf.string(0), Durable: sf.uint32(1, 0), ExpiryPolicy: sf.symbol(2),
				Timeout: sf.uint32(3, 0), Dynamic: sf.bool(4, false), Filter: sf.mapValue(7),
				Capabilities: sf.symbols(10),
			}
			if sf.err != nil && f.err == nil {
				f.err = sf.err
			}
		}
		if tf := f.described(6, DescTarget, "target"); tf != nil {
			a.Target = &Target{
				Address: tf.string(0), Durable: tf.uint32(1, 0), ExpiryPolicy: tf.symbol(2),
				Timeout: tf.uint32(3, 0), Dynamic: tf.bool(4, false), Capabilities: tf.symbols(6),
			}
			if tf.err != nil && f.err == nil {
				f.err = tf.err
			}
		}
		if f.get(0) == nil || f.get(1) == nil || f.get(2) == nil {
			f.err = decodeErr("attach without a name, handle or role")
		}
		p = a
	case DescFlow:
		f.what = "flow"
		p = &Flow{
			NextIncomingID: f.optUint32(0),
			IncomingWindow: f.uint32(1, 0),
			NextOutgoingID: f.uint32(2, 0),
			OutgoingWindow: f.uint32(3, 0),
			Handle:         f.optUint32(4),
			DeliveryCount:  f.optUint32(5),
			LinkCredit:     f.optUint32(6),
			Available:      f.optUint32(7),
			Drain:          f.bool(8, false),
			Echo:           f.bool(9, false),
			Properties:     f.mapValue(10),
		}
	case DescTransfer:
		f.what = "transfer"
		t := &Transfer{
			Handle:        f.uint32(0, 0),
			DeliveryID:    f.optUint32(1),
			DeliveryTag:   f.binary(2),
			MessageFormat: f.optUint32(3),
			Settled:       f.bool(4, false),
			More:          f.bool(5, false),
			RcvSettleMode: f.optUbyte(6),
			Resume:        f.bool(8, false),
			Aborted:       f.bool(9, false),
			Batchable:     f.bool(10, false),
			Payload:       d.Rest(),
		}
		if f.get(0) == nil {
			f.err = decodeErr("transfer without a handle")
		}
		t.State, _ = decodeState(f, 7)
		p = t
	case DescDisposition:
		f.what = "disposition"
		disp := &Disposition{
			Role:      f.bool(0, false),
			First:     f.uint32(1, 0),
			Last:      f.optUint32(2),
			Settled:   f.bool(3, false),
			Batchable: f.bool(5, false),
		}
		disp.State, _ = decodeState(f, 4)
		p = disp
	case DescDetach:
		f.what = "detach"
		p = &Detach{Handle: f.uint32(0, 0), Closed: f.bool(1, false), Error: decodeError(f, 2)}
	case DescEnd:
		f.what = "end"
		p = &End{Error: decodeError(f, 0)}
	case DescClose:
		f.what = "close"
		p = &Close{Error: decodeError(f, 0)}
	default:
		return nil, decodeErr("unknown performative 0x%02x", code)
	}
	if code != DescTransfer && d.Len() != 0 {
		return nil, decodeErr("%d bytes after the %s performative", d.Len(), f.what)
	}
	if f.err != nil {
		return nil, f.err
	}
	return p, nil
}

// composite decodes a described list and returns its descriptor code and
// fields.
func (d *Decoder) composite() (uint64, []any, error) {
	v, err := d.Value()
	if err != nil {
		return 0, nil, err
	}
	dv, ok := v.(Described)
	if !ok {
		return 0, nil, decodeErr("expected a described list, got %T", v)
	}
	code, ok := descriptorCode(dv.Descriptor)
	if !ok {
		return 0, nil, decodeErr("unknown descriptor %v", dv.Descriptor)
	}
	list, ok := dv.Value.([]any)
	if !ok {
		return 0, nil, decodeErr("descriptor 0x%x on a %T, want a list", code, dv.Value)
	}
	return code, list, nil
}

func decodeError(f *fields, i int) *Error {
	ef := f.described(i, DescError, "error")
	if ef == nil {
		return nil
	}
	e := &Error{Condition: ef.symbol(0), Description: ef.string(1), Info: ef.mapValue(2)}
	if ef.err != nil && f.err == nil {
		f.err = ef.err
	}
	return e
}

func decodeState(f *fields, i int) (any, bool) {
	v, ok := f.get(i).(Described)
	if !ok {
		if f.get(i) != nil {
			f.fail(i, "delivery state", f.get(i))
		}
		return nil, false
	}
	code, _ := descriptorCode(v.Descriptor)
	list, _ := v.Value.([]any)
	sf := &fields{what: "delivery state", list: list}
	switch code {
	case DescAccepted:
		return &Accepted{}, true
	case DescRejected:
		return &Rejected{Error: decodeError(sf, 0)}, true
	case DescReleased:
		return &Released{}, true
	case DescModified:
		return &Modified{DeliveryFailed: sf.bool(0, false), UndeliverableHere: sf.bool(1, false)}, true
	case DescReceived:
		return nil, true
	}
	f.fail(i, "delivery state", v.Descriptor)
	return nil, false
}
