package amqp

// AppendDeliveryAnnotations appends a complete delivery-annotations section:
// the descriptor 0x71 and ann as a map.
func AppendDeliveryAnnotations(b []byte, ann Map) ([]byte, error) {
	return AppendMap(AppendDescriptor(b, SectionDeliveryAnnotations), ann)
}

// AppendWithDeliveryAnnotations appends msg, an encoded message whose
// sections are in order (as SplitSections wants them), with section (a
// complete delivery-annotations section) where the specification puts it:
// after the header, if msg has one, and in place of the delivery
// annotations msg has, which belong to an earlier hop. The sections after
// them are copied as they are, neither decoded nor checked.
func AppendWithDeliveryAnnotations(b, msg, section []byte) ([]byte, error) {
	d := Decoder{b: msg}
	head, tail := 0, 0 // msg[:head] goes before section, msg[tail:] after it
	for d.Len() > 0 {
		code, err := d.sectionCode()
		if err != nil {
			return nil, err
		}
		if code > SectionDeliveryAnnotations {
			break
		}
		if _, err := d.skipSection(); err != nil {
			return nil, err
		}
		if code == SectionHeader {
			head = d.pos
		}
		tail = d.pos
	}
	b = append(b, msg[:head]...)
	b = append(b, section...)
	return append(b, msg[tail:]...), nil
}

// sectionCode reads the descriptor of the message section at the
// decoder's position and returns its code: a small ulong, as the SDKs
// write it, is read directly; anything else is decoded.
func (d *Decoder) sectionCode() (uint64, error) {
	start := d.pos
	if c, _ := d.PeekCode(); c != codeDescribed {
		return 0, decodeErr("message section at %d is not described", start)
	}
	d.pos++
	if c, _ := d.PeekCode(); c == codeSmallUlong {
		d.pos++
		b, err := d.byte()
		if err != nil {
			return 0, err
		}
		if code := uint64(b); code >= SectionHeader && code <= SectionFooter {
			return code, nil
		}
		return 0, decodeErr("unknown message section 0x%x", b)
	}
	desc, err := d.Value()
	if err != nil {
		return 0, err
	}
	code, ok := descriptorCode(desc)
	if !ok || code < SectionHeader || code > SectionFooter {
		return 0, decodeErr("unknown message section %v", desc)
	}
	return code, nil
}
