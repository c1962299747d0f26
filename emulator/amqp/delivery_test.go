package amqp

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
)

// TestAppendWithDeliveryAnnotations: the section goes after the header and
// replaces the delivery annotations of an earlier hop; go-amqp reads the
// result with every other section as it was.
func TestAppendWithDeliveryAnnotations(t *testing.T) {
	when := time.UnixMilli(1700000000123) // go-amqp decodes timestamps in time.Local
	section, err := AppendDeliveryAnnotations(nil, Map{
		{Key: Symbol("last_enqueued_sequence_number"), Value: int64(41)},
		{Key: Symbol("last_enqueued_offset"), Value: "4096"},
		{Key: Symbol("last_enqueued_time_utc"), Value: when},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := goamqp.Annotations{"last_enqueued_sequence_number": int64(41), "last_enqueued_offset": "4096", "last_enqueued_time_utc": when}
	noHeader := fullGoMessage(true)
	noHeader.Header = nil
	noDA := fullGoMessage(true)
	noDA.DeliveryAnnotations = nil
	for _, c := range []struct {
		name string
		msg  *goamqp.Message
	}{
		{"header and delivery annotations", fullGoMessage(true)},
		{"no header", noHeader},
		{"no delivery annotations", noDA},
		{"data only", goamqp.NewMessage([]byte("body"))},
	} {
		t.Run(c.name, func(t *testing.T) {
			msg := goMarshal(t, c.msg)
			prefix := []byte("kept")
			out, err := AppendWithDeliveryAnnotations(bytes.Clone(prefix), msg, section)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(out, prefix) {
				t.Fatalf("the bytes before were not kept: % x", head(out))
			}
			got := goUnmarshal(t, out[len(prefix):])
			if !reflect.DeepEqual(got.DeliveryAnnotations, want) {
				t.Errorf("delivery annotations %#v, want %#v", got.DeliveryAnnotations, want)
			}
			c.msg.DeliveryAnnotations = want
			if !reflect.DeepEqual(got, goUnmarshal(t, goMarshal(t, c.msg))) {
				t.Errorf("got %+v, want %+v", got, c.msg)
			}
			codes := sectionCodes(t, out[len(prefix):])
			if countCode(codes, SectionDeliveryAnnotations) != 1 {
				t.Errorf("sections %x: want one delivery-annotations section", codes)
			}
		})
	}
	// Symbolic descriptors are sections like numeric ones.
	header := append([]byte{0x00, 0xa3, byte(len("amqp:header:list"))}, "amqp:header:list"...)
	header = append(header, 0x45)
	da := append([]byte{0x00, 0xa3, byte(len("amqp:delivery-annotations:map"))}, "amqp:delivery-annotations:map"...)
	da = append(da, 0xc1, 0x01, 0x00)
	data := []byte{0x00, 0x53, 0x75, 0xa0, 0x01, 'x'}
	out, err := AppendWithDeliveryAnnotations(nil, bytes.Join([][]byte{header, da, data}, nil), section)
	if err != nil {
		t.Fatal(err)
	}
	if wantOut := bytes.Join([][]byte{header, section, data}, nil); !bytes.Equal(out, wantOut) {
		t.Errorf("symbolic sections:\n got % x\nwant % x", out, wantOut)
	}
	for _, bad := range [][]byte{{0x40}, {0x00, 0x53}, {0x00, 0x53, 0x70, 0xc0, 0x09}, {0x00, 0x53, 0x01, 0x40}, {0x00, 0xa3, 0x01, 'x', 0x45}} {
		if out, err := AppendWithDeliveryAnnotations(nil, bad, section); err == nil {
			t.Errorf("AppendWithDeliveryAnnotations(% x) = % x, want an error", bad, out)
		} else {
			wantDecodeErr(t, err, "bad message")
		}
	}
}

func countCode(codes []uint64, code uint64) int {
	n := 0
	for _, c := range codes {
		if c == code {
			n++
		}
	}
	return n
}

// FuzzAppendWithDeliveryAnnotations: any message that splits gets exactly
// one delivery-annotations section, the one given, and keeps its other
// sections in order; anything else is an ErrDecode, never a panic.
func FuzzAppendWithDeliveryAnnotations(f *testing.F) {
	for _, s := range messageSeeds(f) {
		f.Add(s)
	}
	section, err := AppendDeliveryAnnotations(nil, Map{{Key: Symbol("last_enqueued_offset"), Value: "7"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := AppendWithDeliveryAnnotations([]byte("pre"), b, section)
		if err != nil {
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("error %v does not wrap ErrDecode", err)
			}
			return
		}
		if string(out[:3]) != "pre" {
			t.Fatalf("AppendWithDeliveryAnnotations overwrote its destination")
		}
		secs, err := SplitSections(b)
		if err != nil {
			return // only the sections up to the delivery annotations were read
		}
		secs2, err := SplitSections(out[3:])
		if err != nil {
			t.Fatalf("the annotated message does not split: %v", err)
		}
		var kept, kept2 [][]byte
		for _, s := range secs {
			if s.Code != SectionDeliveryAnnotations {
				kept = append(kept, s.Raw)
			}
		}
		var das [][]byte
		for _, s := range secs2 {
			if s.Code == SectionDeliveryAnnotations {
				das = append(das, s.Raw)
				continue
			}
			kept2 = append(kept2, s.Raw)
		}
		if len(das) != 1 || !bytes.Equal(das[0], section) || !reflect.DeepEqual(kept, kept2) {
			t.Fatalf("annotating % x gave % x", b, out[3:])
		}
	})
}
