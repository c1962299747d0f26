package emulator_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	azlog "github.com/Azure/azure-sdk-for-go/sdk/azcore/log"
)

func TestMain(m *testing.M) {
	if addr := os.Getenv(kafkaMemberEnv); addr != "" {
		os.Exit(runKafkaMember(addr))
	}
	if os.Getenv("EH_DEBUG") != "" {
		start := time.Now()
		azlog.SetListener(func(e azlog.Event, s string) {
			fmt.Printf("%8.3fs [%s] %s\n", time.Since(start).Seconds(), e, s)
		})
	}
	os.Exit(m.Run())
}
