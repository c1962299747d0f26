// Package amqp holds the AMQP 1.0 wire format the emulator speaks: the type
// system (encode and decode), frames, performatives and message sections.
//
// It is deliberately a codec and nothing more: connection, session and link
// state live in the emulator package, so this package can be fuzzed on its own.
//
// Decoded values take these Go types: nil, bool, uint8, uint16, uint32,
// uint64, int8, int16, int32, int64, float32, float64, Char, time.Time
// (timestamp), UUID, []byte (binary), string, Symbol, []any (list), Map,
// Array, Described and Decimal.
//
// Files:
//
//   - types.go: the Go types of AMQP values (Symbol, Map, Array,
//     Described...).
//   - encode.go, decode.go: the type system: Append and the Append*
//     functions, Decoder and Unmarshal.
//   - fields.go: reading the positional fields of described lists, with
//     errors that name the field.
//   - frame.go: frames: FrameReader, AppendFrame, protocol headers,
//     heartbeats.
//   - performative.go: the performatives (Open, Begin, Attach, Flow,
//     Transfer, Disposition, Detach, End, Close), their sources, targets,
//     errors and delivery states, and their codec.
//   - transfer.go: transfer frames written directly, the delivery hot
//     path.
//   - sasl.go: the SASL frames.
//   - message.go: message sections: splitting, decoding and encoding
//     messages, reading and rewriting annotations, DataSize.
//   - delivery.go: delivery annotations added to a stored message.
package amqp
