package kafka

import (
	"bytes"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The codecs a record batch's attributes name (their low three bits).
const (
	codecNone   = 0
	codecGzip   = 1
	codecMask   = 0x07
	codecsTaken = "none or gzip"
)

var codecNames = [...]string{"none", "gzip", "snappy", "lz4", "zstd"}

// maxDecompressedBatch bounds the records of one batch after
// decompression: a small gzip batch may claim any size, and what it
// decompresses to is held in memory until appended.
const maxDecompressedBatch = 16 << 20

// batchRecords is the records section of b, decompressed when the
// producer compressed it. Event Hubs takes gzip only ("Compression.type =
// none | gzip" in its Kafka documentation) and refuses the other codecs
// with UNSUPPORTED_FOR_MESSAGE_FORMAT ("The message format version on the
// broker does not support the request", its Kafka troubleshooting guide):
// so does the emulator.
func batchRecords(b *kmsg.RecordBatch) ([]byte, error) {
	switch codec := b.Attributes & codecMask; codec {
	case codecNone:
		return b.Records, nil
	case codecGzip:
		return gunzip(b.Records, maxDecompressedBatch)
	default:
		name := "unknown"
		if int(codec) < len(codecNames) {
			name = codecNames[codec]
		}
		return nil, fmt.Errorf("kafka: compression codec %s (%d) is refused, as Event Hubs refuses it; produce with %s: %w",
			name, codec, codecsTaken, kerr.UnsupportedForMessageFormat)
	}
}

// gunzip decompresses a gzip records section, refusing one that comes
// to more than limit bytes before it takes more memory than that.
func gunzip(src []byte, limit int) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(src))
	if err != nil {
		return nil, fmt.Errorf("kafka: a gzip record batch does not decompress: %v: %w", err, kerr.CorruptMessage)
	}
	defer zr.Close()
	out, err := io.ReadAll(io.LimitReader(zr, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("kafka: a gzip record batch does not decompress: %v: %w", err, kerr.CorruptMessage)
	}
	if len(out) > limit {
		return nil, fmt.Errorf("kafka: a gzip record batch decompresses to over %d bytes, the limit: %w", limit, kerr.MessageTooLarge)
	}
	return out, nil
}
