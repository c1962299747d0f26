package amqp

import "encoding/binary"

// TransferOverhead bounds the bytes a transfer frame spends on its header
// and performative as AppendTransferFrame writes it, with a tag of up to 8
// bytes: the payload of a frame is at most max-frame-size minus this.
const TransferOverhead = 48

// transferFields is how many fields a transfer has; transferTail is the
// null written for each one after more (rcv-settle-mode, state, resume,
// aborted, batchable): the service sends all of them, and SDKs that read
// fields by position (pyamqp) look for the payload after the eleventh.
const transferFields = 11

var transferTail = [5]byte{codeNull, codeNull, codeNull, codeNull, codeNull}

// AppendTransferFrame appends a complete transfer frame carrying payload.
// It is the emulator's hot path when delivering events, so it writes the
// performative directly instead of going through Append. The first frame of
// a delivery carries the delivery-id, tag and message format (0); later
// frames of the same delivery carry null there. Every frame has all eleven
// fields.
func AppendTransferFrame(b []byte, channel uint16, handle uint32, first bool, deliveryID uint32, tag []byte, settled, more bool, payload []byte) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0, 2, FrameAMQP, byte(channel>>8), byte(channel))
	b = append(b, codeDescribed, codeSmallUlong, DescTransfer, codeList8, 0, 0)
	listAt := len(b) - 2
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
	b = append(b, transferTail[:]...)
	b[listAt] = byte(len(b) - listAt - 1)
	b[listAt+1] = transferFields
	b = append(b, payload...)
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b
}
