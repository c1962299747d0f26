package amqp

// Message section descriptors (part 3.2 of the specification).
const (
	SectionHeader                = 0x70
	SectionDeliveryAnnotations   = 0x71
	SectionMessageAnnotations    = 0x72
	SectionProperties            = 0x73
	SectionApplicationProperties = 0x74
	SectionData                  = 0x75
	SectionSequence              = 0x76
	SectionValue                 = 0x77
	SectionFooter                = 0x78
)

// MessageFormatBatch is the message format Event Hubs clients send: the
// message's Data sections each hold one complete encoded message.
const MessageFormatBatch = 0x80013700

// Section is one section of an encoded message.
type Section struct {
	Code uint64
	Raw  []byte // the whole encoded section, descriptor included
	Body []byte // the encoded value after the descriptor
}

// SplitSections cuts an encoded message into its sections without decoding
// their contents; sizes are checked, so a malformed message is an error.
func SplitSections(b []byte) ([]Section, error) {
	var out []Section
	d := NewDecoder(b)
	for d.Len() > 0 {
		start := d.Pos()
		c, _ := d.PeekCode()
		if c != codeDescribed {
			return nil, decodeErr("message section at %d is not described", start)
		}
		d.pos++
		desc, err := d.Value()
		if err != nil {
			return nil, err
		}
		code, ok := descriptorCode(desc)
		if !ok || code < SectionHeader || code > SectionFooter {
			return nil, decodeErr("unknown message section %v", desc)
		}
		bodyStart := d.Pos()
		if err := d.Skip(); err != nil {
			return nil, err
		}
		if len(out) > 0 && code < out[len(out)-1].Code && code != SectionData && code != SectionSequence {
			return nil, decodeErr("message section 0x%x out of order", code)
		}
		out = append(out, Section{Code: code, Raw: b[start:d.Pos()], Body: b[bodyStart:d.Pos()]})
	}
	if len(out) == 0 {
		return nil, decodeErr("empty message")
	}
	return out, nil
}

// DataLen is the length of the binary a Data section holds (0 for any
// other section): the part of an event's body the section carries.
func (s Section) DataLen() int {
	if s.Code != SectionData {
		return 0
	}
	return binaryLen(s.Body)
}

// binaryLen is the length of an encoded binary value's contents.
func binaryLen(v []byte) int {
	switch {
	case len(v) >= 2 && v[0] == codeVbin8:
		return len(v) - 2
	case len(v) >= 5 && v[0] == codeVbin32:
		return len(v) - 5
	}
	return 0
}

// DataSize is the bytes an encoded message's Data sections hold: the body
// of an event as the SDKs hand it over. It walks the sections without
// building them, and without allocating, for the delivery path; a message
// it cannot walk is an error.
func DataSize(msg []byte) (int, error) {
	d := Decoder{b: msg}
	n := 0
	for d.Len() > 0 {
		start := d.pos
		if c, _ := d.PeekCode(); c != codeDescribed {
			return 0, decodeErr("message section at %d is not described", start)
		}
		d.pos++
		var code uint64
		switch c, _ := d.PeekCode(); c {
		case codeSmallUlong:
			d.pos++
			b, err := d.byte()
			if err != nil {
				return 0, err
			}
			code = uint64(b)
			if code < SectionHeader || code > SectionFooter {
				return 0, decodeErr("unknown message section 0x%x", code)
			}
		default:
			desc, err := d.Value()
			if err != nil {
				return 0, err
			}
			var ok bool
			if code, ok = descriptorCode(desc); !ok || code < SectionHeader || code > SectionFooter {
				return 0, decodeErr("unknown message section %v", desc)
			}
		}
		size, err := d.skipSection()
		if err != nil {
			return 0, err
		}
		if code == SectionData {
			n += size
		}
	}
	return n, nil
}

// skipSection skips a section's value and returns the length of its
// contents when it is a binary. Sections are lists, maps and binaries,
// whose sizes are read here directly; anything else goes through Skip.
func (d *Decoder) skipSection() (binary int, err error) {
	c, _ := d.PeekCode()
	var wide bool
	switch c {
	case codeVbin8, codeList8, codeMap8:
	case codeVbin32, codeList32, codeMap32:
		wide = true
	default:
		return 0, d.Skip()
	}
	d.pos++
	l, err := d.length(wide)
	if err != nil {
		return 0, err
	}
	d.pos += l // length checked it against what is left
	if c == codeVbin8 || c == codeVbin32 {
		return l, nil
	}
	return 0, nil
}

// Properties is the properties section, with the fields the emulator reads
// or writes.
type Properties struct {
	MessageID     any
	To            string
	Subject       string
	ReplyTo       string
	CorrelationID any
	ContentType   Symbol
}

// Message is a fully decoded message, used for the request/response traffic
// of the $cbs and $management nodes; events are never decoded this way.
type Message struct {
	Annotations           Map
	Properties            *Properties
	ApplicationProperties Map
	Data                  [][]byte
	Value                 any
	HasValue              bool
}

// DecodeMessage decodes every section of an encoded message.
func DecodeMessage(b []byte) (*Message, error) {
	secs, err := SplitSections(b)
	if err != nil {
		return nil, err
	}
	m := &Message{}
	for _, s := range secs {
		v, err := Unmarshal(s.Body)
		if err != nil {
			return nil, err
		}
		switch s.Code {
		case SectionMessageAnnotations:
			m.Annotations, _ = v.(Map)
		case SectionProperties:
			list, ok := v.([]any)
			if !ok {
				return nil, decodeErr("properties section holds %T", v)
			}
			f := &fields{what: "properties", list: list}
			m.Properties = &Properties{
				MessageID: f.get(0), To: f.string(2), Subject: f.string(3), ReplyTo: f.string(4),
				CorrelationID: f.get(5), ContentType: f.symbol(6),
			}
			if f.err != nil {
				return nil, f.err
			}
		case SectionApplicationProperties:
			if m.ApplicationProperties, _ = v.(Map); m.ApplicationProperties == nil && v != nil {
				return nil, decodeErr("application-properties section holds %T", v)
			}
		case SectionData:
			p, ok := v.([]byte)
			if !ok {
				return nil, decodeErr("data section holds %T", v)
			}
			m.Data = append(m.Data, p)
		case SectionValue:
			m.Value, m.HasValue = v, true
		}
	}
	return m, nil
}

// AppendMessage encodes m.
func AppendMessage(b []byte, m *Message) ([]byte, error) {
	var err error
	if len(m.Annotations) > 0 {
		b = AppendDescriptor(b, SectionMessageAnnotations)
		if b, err = AppendMap(b, m.Annotations); err != nil {
			return nil, err
		}
	}
	if p := m.Properties; p != nil {
		b = AppendDescriptor(b, SectionProperties)
		if b, err = AppendList(b, trim([]any{
			p.MessageID, nil, nilIfEmpty(p.To), nilIfEmpty(p.Subject), nilIfEmpty(p.ReplyTo),
			p.CorrelationID, symbolOrNil(p.ContentType),
		})); err != nil {
			return nil, err
		}
	}
	if len(m.ApplicationProperties) > 0 {
		b = AppendDescriptor(b, SectionApplicationProperties)
		if b, err = AppendMap(b, m.ApplicationProperties); err != nil {
			return nil, err
		}
	}
	for _, d := range m.Data {
		b = AppendBinary(AppendDescriptor(b, SectionData), d)
	}
	if m.HasValue {
		b = AppendDescriptor(b, SectionValue)
		if b, err = Append(b, m.Value); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// ReadAnnotations decodes the message-annotations section of an encoded
// message (nil when it has none).
func ReadAnnotations(secs []Section) (Map, error) {
	for _, s := range secs {
		if s.Code == SectionMessageAnnotations {
			v, err := Unmarshal(s.Body)
			if err != nil {
				return nil, err
			}
			m, ok := v.(Map)
			if !ok && v != nil {
				return nil, decodeErr("message-annotations section holds %T", v)
			}
			return m, nil
		}
	}
	return nil, nil
}

// AppendWithAnnotations re-encodes a message from its sections with its
// message annotations replaced by ann, keeping every other section's bytes
// as they were.
func AppendWithAnnotations(b []byte, secs []Section, ann Map) ([]byte, error) {
	written := false
	writeAnn := func() error {
		written = true
		var err error
		b = AppendDescriptor(b, SectionMessageAnnotations)
		b, err = AppendMap(b, ann)
		return err
	}
	for _, s := range secs {
		if s.Code == SectionMessageAnnotations {
			continue
		}
		if !written && s.Code > SectionMessageAnnotations {
			if err := writeAnn(); err != nil {
				return nil, err
			}
		}
		b = append(b, s.Raw...)
	}
	if !written {
		if err := writeAnn(); err != nil {
			return nil, err
		}
	}
	return b, nil
}
