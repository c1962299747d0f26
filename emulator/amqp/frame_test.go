package amqp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

func frameHeader(size uint32, doff, typ byte, channel uint16) []byte {
	h := binary.BigEndian.AppendUint32(nil, size)
	h = append(h, doff, typ)
	return binary.BigEndian.AppendUint16(h, channel)
}

func TestFrameReaderReads(t *testing.T) {
	body := composite(t, uint64(DescOpen), "c")
	var stream []byte
	stream = AppendFrame(stream, FrameAMQP, 0, body)
	stream = append(stream, Heartbeat...)
	stream, err := AppendPerformativeFrame(stream, FrameAMQP, 0xfffe, &Begin{NextOutgoingID: 1, IncomingWindow: 2, OutgoingWindow: 3})
	if err != nil {
		t.Fatal(err)
	}
	stream = AppendFrame(stream, FrameSASL, 0, []byte{1, 2, 3})
	// A frame with an extended header: doff 3 puts the body 12 bytes in.
	stream = append(stream, frameHeader(15, 3, FrameAMQP, 5)...)
	stream = append(stream, 0xee, 0xee, 0xee, 0xee, 'a', 'b', 'c')
	// A heartbeat written by AppendFrame, on a channel.
	stream = AppendFrame(stream, FrameAMQP, 9, nil)
	big := bytes.Repeat([]byte{0x42}, 100000)
	stream = AppendFrame(stream, FrameAMQP, 1, big)

	want := []Frame{
		{FrameAMQP, 0, body},
		{FrameAMQP, 0, nil},
		{FrameAMQP, 0xfffe, nil}, // checked by decoding below
		{FrameSASL, 0, []byte{1, 2, 3}},
		{FrameAMQP, 5, []byte("abc")},
		{FrameAMQP, 9, nil},
		{FrameAMQP, 1, big},
	}
	for _, r := range map[string]io.Reader{
		"whole":       bytes.NewReader(stream),
		"byte a time": iotest.OneByteReader(bytes.NewReader(stream)),
		"half":        iotest.HalfReader(bytes.NewReader(stream)),
	} {
		fr := NewFrameReader(r, 1<<20)
		for i, w := range want {
			f, err := fr.ReadFrame()
			if err != nil {
				t.Fatalf("frame %d: %v", i, err)
			}
			if f.Type != w.Type || f.Channel != w.Channel {
				t.Errorf("frame %d: type %d channel %d, want %d %d", i, f.Type, f.Channel, w.Type, w.Channel)
			}
			if i == 2 {
				p, err := DecodePerformative(f.Body)
				if b, ok := p.(*Begin); err != nil || !ok || b.OutgoingWindow != 3 {
					t.Errorf("frame %d: %#v, %v", i, p, err)
				}
				continue
			}
			if !bytes.Equal(f.Body, w.Body) || (len(w.Body) == 0 && len(f.Body) != 0) {
				t.Errorf("frame %d: body % x, want % x", i, head(f.Body), head(w.Body))
			}
		}
		if _, err := fr.ReadFrame(); err != io.EOF {
			t.Errorf("after the last frame: %v, want io.EOF", err)
		}
	}
}

func TestHeartbeat(t *testing.T) {
	if !bytes.Equal(Heartbeat, AppendFrame(nil, FrameAMQP, 0, nil)) {
		t.Errorf("Heartbeat % x is not an empty frame", Heartbeat)
	}
	fr := NewFrameReader(bytes.NewReader(Heartbeat), MinMaxFrameSize)
	f, err := fr.ReadFrame()
	if err != nil || len(f.Body) != 0 || f.Type != FrameAMQP {
		t.Errorf("heartbeat read as %#v, %v", f, err)
	}
}

func TestReadHeader(t *testing.T) {
	in := append(HeaderSASL[:], HeaderAMQP[:]...)
	in = append(in, Heartbeat...)
	fr := NewFrameReader(bytes.NewReader(in), MinMaxFrameSize)
	for _, want := range [][8]byte{HeaderSASL, HeaderAMQP} {
		if h, err := fr.ReadHeader(); err != nil || h != want {
			t.Fatalf("header %q, %v; want %q", h, err, want)
		}
	}
	if _, err := fr.ReadFrame(); err != nil {
		t.Fatalf("frame after the headers: %v", err)
	}
	fr = NewFrameReader(strings.NewReader("AMQP"), MinMaxFrameSize)
	if _, err := fr.ReadHeader(); err != io.ErrUnexpectedEOF {
		t.Errorf("short header: %v", err)
	}
}

func TestAppendPerformativeFrame(t *testing.T) {
	prefix := []byte("keep")
	b, err := AppendPerformativeFrame(append([]byte(nil), prefix...), FrameSASL, 0x0102, &Close{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b[:4], prefix) {
		t.Fatal("prefix overwritten")
	}
	// A close has one field, error; it is written, as null, though AMQP
	// lets it go.
	want := []byte{0, 0, 0, 0, 2, FrameSASL, 1, 2, 0x00, 0x53, 0x18, 0xd0, 0, 0, 0, 5, 0, 0, 0, 1, 0x40}
	want[3] = byte(len(want))
	if !bytes.Equal(b[4:], want) {
		t.Errorf("close frame % x, want % x", b[4:], want)
	}
	if _, err := AppendPerformativeFrame(nil, FrameAMQP, 0, &Open{Properties: Map{{"k", struct{}{}}}}); err == nil {
		t.Error("an unencodable performative made a frame")
	}
	b = AppendFrame([]byte("x"), FrameAMQP, 0xabcd, []byte{7, 7})
	if !bytes.Equal(b, append([]byte("x"), 0, 0, 0, 10, 2, 0, 0xab, 0xcd, 7, 7)) {
		t.Errorf("AppendFrame: % x", b)
	}
}

func TestFrameReaderRejects(t *testing.T) {
	for _, c := range []struct {
		name     string
		in       []byte
		max      uint32
		tooLarge bool
	}{
		{"size 0", frameHeader(0, 2, 0, 0), 1024, false},
		{"size 7", frameHeader(7, 2, 0, 0), 1024, false},
		{"doff 0", frameHeader(8, 0, 0, 0), 1024, false},
		{"doff 1", append(frameHeader(12, 1, 0, 0), 0, 0, 0, 0), 1024, false},
		{"doff past size", append(frameHeader(8, 3, 0, 0), 0, 0, 0, 0), 1024, false},
		{"doff 255 past size", frameHeader(1000, 255, 0, 0), 1024, false},
		{"size over max", frameHeader(1025, 2, 0, 0), 1024, true},
		{"size 4 GiB", frameHeader(0xffffffff, 2, 0, 0), 1 << 20, true},
		{"size 2 GiB with an extended header", frameHeader(1<<31, 200, 0, 0), 1 << 20, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			// Nothing after the header: a reader that allocates before
			// checking would block or fail differently.
			fr := NewFrameReader(bytes.NewReader(c.in), c.max)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			f, err := fr.ReadFrame()
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatalf("read %#v", f)
			}
			if c.tooLarge {
				if !errors.Is(err, ErrFrameTooLarge) {
					t.Errorf("error %v does not wrap ErrFrameTooLarge", err)
				}
			} else {
				wantDecodeErr(t, err, c.name)
			}
			if cap(fr.buf) != 0 {
				t.Errorf("a %d-byte buffer was allocated for a refused frame", cap(fr.buf))
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<16 {
				t.Errorf("%d bytes allocated refusing the frame", grew)
			}
		})
	}
	// The limit is inclusive.
	frame := AppendFrame(nil, FrameAMQP, 0, make([]byte, 1016))
	if _, err := NewFrameReader(bytes.NewReader(frame), 1024).ReadFrame(); err != nil {
		t.Errorf("a frame of exactly MaxSize: %v", err)
	}
	if _, err := NewFrameReader(bytes.NewReader(frame), 1023).ReadFrame(); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("a frame one over MaxSize: %v", err)
	}
}

// TestFrameReaderRaisedLimit: MaxSize is raised once the open frames are
// exchanged, as the emulator does.
func TestFrameReaderRaisedLimit(t *testing.T) {
	small := AppendFrame(nil, FrameAMQP, 0, make([]byte, 100))
	big := AppendFrame(nil, FrameAMQP, 0, make([]byte, 4000))
	if _, err := NewFrameReader(bytes.NewReader(big), MinMaxFrameSize).ReadFrame(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("over the pre-open limit: %v", err)
	}
	fr := NewFrameReader(bytes.NewReader(append(append([]byte(nil), small...), big...)), MinMaxFrameSize)
	if _, err := fr.ReadFrame(); err != nil {
		t.Fatal(err)
	}
	fr.MaxSize = 1 << 16
	if f, err := fr.ReadFrame(); err != nil || len(f.Body) != 4000 {
		t.Fatalf("after raising MaxSize: %d bytes, %v", len(f.Body), err)
	}
}

func TestFrameReaderShortReads(t *testing.T) {
	frame := AppendFrame(nil, FrameAMQP, 3, []byte("0123456789"))
	for i := 1; i < len(frame); i++ {
		fr := NewFrameReader(bytes.NewReader(frame[:i]), 1024)
		if _, err := fr.ReadFrame(); err != io.ErrUnexpectedEOF {
			t.Errorf("frame cut after %d bytes: %v, want io.ErrUnexpectedEOF", i, err)
		}
	}
	if _, err := NewFrameReader(bytes.NewReader(nil), 1024).ReadFrame(); err != io.EOF {
		t.Errorf("no input: %v, want io.EOF", err)
	}
	// Errors of the connection come through.
	boom := errors.New("connection reset")
	for name, r := range map[string]io.Reader{
		"in the header": io.MultiReader(bytes.NewReader(frame[:5]), iotest.ErrReader(boom)),
		"in the body":   io.MultiReader(bytes.NewReader(frame[:12]), iotest.ErrReader(boom)),
		"at once":       iotest.ErrReader(boom),
	} {
		if _, err := NewFrameReader(r, 1024).ReadFrame(); !errors.Is(err, boom) {
			t.Errorf("%s: %v, want %v", name, err, boom)
		}
	}
}

// TestFrameReaderReusesBuffer: frame bodies share one buffer (a body is
// valid until the next read), so reading does not allocate per frame
// beyond the 8-byte header, which escapes through io.ReadFull.
func TestFrameReaderReusesBuffer(t *testing.T) {
	frame := AppendFrame(nil, FrameAMQP, 0, bytes.Repeat([]byte{1}, 500))
	small := AppendFrame(nil, FrameAMQP, 0, []byte{2, 2})
	r := &repeatReader{b: append(append([]byte(nil), frame...), small...)}
	fr := NewFrameReader(r, 1024)
	f1, err := fr.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	first := &f1.Body[0]
	f2, err := fr.ReadFrame()
	if err != nil || !bytes.Equal(f2.Body, []byte{2, 2}) {
		t.Fatalf("second frame % x, %v", f2.Body, err)
	}
	if &f2.Body[0] != first {
		t.Error("the second frame got a new buffer")
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := fr.ReadFrame(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Errorf("%v allocations a frame", allocs)
	}
}

// repeatReader returns b over and over.
type repeatReader struct {
	b   []byte
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.b[r.off:])
		n += c
		r.off = (r.off + c) % len(r.b)
	}
	return n, nil
}
