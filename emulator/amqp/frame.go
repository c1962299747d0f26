package amqp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Frame types.
const (
	FrameAMQP = 0x00
	FrameSASL = 0x01
)

// MinMaxFrameSize is the smallest max-frame-size a peer may set, and the
// limit on frames before the open performatives are exchanged.
const MinMaxFrameSize = 512

// Protocol headers that start a connection.
var (
	HeaderAMQP = [8]byte{'A', 'M', 'Q', 'P', 0, 1, 0, 0}
	HeaderSASL = [8]byte{'A', 'M', 'Q', 'P', 3, 1, 0, 0}
)

// Frame is one frame off the wire. Body is empty for a heartbeat.
type Frame struct {
	Type    byte
	Channel uint16
	Body    []byte
}

// ErrFrameTooLarge is wrapped when a peer sends a frame over the agreed size.
var ErrFrameTooLarge = errors.New("amqp: frame too large")

// FrameReader reads frames, reusing one buffer: a frame's Body is valid
// until the next call.
type FrameReader struct {
	r   *bufio.Reader
	buf []byte
	// MaxSize is the largest frame accepted; a larger one is an error before
	// any of it is allocated.
	MaxSize uint32
}

func NewFrameReader(r io.Reader, maxSize uint32) *FrameReader {
	return &FrameReader{r: bufio.NewReaderSize(r, 64<<10), MaxSize: maxSize}
}

// ReadHeader reads an 8-byte protocol header.
func (fr *FrameReader) ReadHeader() ([8]byte, error) {
	var h [8]byte
	_, err := io.ReadFull(fr.r, h[:])
	return h, err
}

func (fr *FrameReader) ReadFrame() (Frame, error) {
	var h [8]byte
	if _, err := io.ReadFull(fr.r, h[:]); err != nil {
		return Frame{}, err
	}
	size := binary.BigEndian.Uint32(h[0:4])
	doff := uint32(h[4]) * 4
	if size < 8 || doff < 8 || doff > size {
		return Frame{}, decodeErr("frame header: size %d, data offset %d", size, doff)
	}
	if size > fr.MaxSize {
		return Frame{}, fmt.Errorf("%w: %d bytes, the limit is %d", ErrFrameTooLarge, size, fr.MaxSize)
	}
	n := int(size - 8)
	if cap(fr.buf) < n {
		fr.buf = make([]byte, n)
	}
	buf := fr.buf[:n]
	if _, err := io.ReadFull(fr.r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Frame{}, err
	}
	return Frame{Type: h[5], Channel: binary.BigEndian.Uint16(h[6:8]), Body: buf[doff-8:]}, nil
}

// AppendFrame appends a frame holding body (an encoded performative, plus
// payload for a transfer) to b.
func AppendFrame(b []byte, typ byte, channel uint16, body []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(8+len(body)))
	b = append(b, 2, typ)
	b = binary.BigEndian.AppendUint16(b, channel)
	return append(b, body...)
}

// AppendPerformativeFrame encodes p straight into a frame appended to b,
// without an intermediate buffer.
func AppendPerformativeFrame(b []byte, typ byte, channel uint16, p Marshaler) ([]byte, error) {
	start := len(b)
	b = append(b, 0, 0, 0, 0, 2, typ, byte(channel>>8), byte(channel))
	b, err := p.AppendAMQP(b)
	if err != nil {
		return nil, err
	}
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b, nil
}

// Heartbeat is an empty frame, sent to keep an idle connection open.
var Heartbeat = []byte{0, 0, 0, 8, 2, 0, 0, 0}
