package capture

import (
	"runtime"

	kzstd "github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// pageWindow is the zstd window of Parquet pages: larger than a page
// (parquet-go writes a page once its buffer passes 256 KiB), so that
// every match within a page is in reach and the window costs nothing in
// size.
const pageWindow = 1 << 20

// pageZstd is Parquet's zstd codec, parquet-go's own but for its encoder:
// one klauspost encoder shared by every file of the format, with a window
// of pageWindow, rather than one encoder per compression at the level's
// window (8 MiB, 16 MiB of history each), which made each partition's
// open file cost some 16 MiB and, with 8 partitions, most of the sink's
// memory. It decodes as parquet-go's codec does.
type pageZstd struct {
	zstd.Codec
	enc *kzstd.Encoder
}

// newPageZstd is the codec, with the options parquet-go's codec sets (a
// frame even for an empty page, no checksum: Parquet pages have their
// own) and as many encoders as CPUs, since compressing is all CPU.
func newPageZstd() (*pageZstd, error) {
	enc, err := kzstd.NewWriter(nil,
		kzstd.WithEncoderLevel(kzstd.SpeedDefault),
		kzstd.WithWindowSize(pageWindow),
		kzstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
		kzstd.WithZeroFrames(true),
		kzstd.WithEncoderCRC(false))
	if err != nil {
		return nil, err
	}
	return &pageZstd{enc: enc}, nil
}

// Encode compresses the page src into dst.
func (c *pageZstd) Encode(dst, src []byte) ([]byte, error) {
	return c.enc.EncodeAll(src, dst[:0]), nil
}
