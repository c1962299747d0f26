package linelog_test

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/ehstream/ehstream/linelog"
)

// Lines printed for people become records of a JSON log.
func ExampleNew() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // for a stable output
			}
			return a
		},
	}))
	out := linelog.New(log)
	fmt.Fprintf(out, "streaming %s into %s\n", "orders", "events")
	// Output: {"level":"INFO","msg":"streaming orders into events"}
}
