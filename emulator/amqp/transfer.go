package amqp

import "encoding/binary"

// TransferOverhead bounds the bytes a transfer frame spends on its header
// and performative as AppendTransferFrame writes it, with a tag of up to 8
// bytes: the payload of a frame is at most max-frame-size minus this.
const TransferOverhead = 48

// AppendTransferFrame appends a complete transfer frame carrying payload.
// It is the emulator's hot path when delivering events, so it writes the
// performative directly instead of going through Append. The first frame of
// a delivery carries the delivery-id, tag and message format (0); later
// frames of the same delivery carry only handle, settled and more.
func AppendTransferFrame(b []byte, channel uint16, handle uint32, first bool, deliveryID uint32, tag []byte, settled, more bool, payload []byte) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0, 2, FrameAMQP, byte(channel>>8), byte(channel))
	b = append(b, codeDescribed, codeSmallUlong, DescTransfer, codeList8, 0, 0)
	listAt := len(b) - 2
	count := byte(6)
	b = AppendUint(b, handle)
	if first {
		b = AppendUint(b, deliveryID)
		b = AppendBinary(b, tag)
		b = append(b, codeUint0)
	} else {
		b = append(b, codeNull, codeNull, codeNull)
	}
	b = AppendBool(b, settled)
	b = AppendBool(b, more)
	b[listAt] = byte(len(b) - listAt - 1)
	b[listAt+1] = count
	b = append(b, payload...)
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b
}
