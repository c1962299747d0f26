package eventhubs_test

import (
	"fmt"
	"os"
	"testing"

	azlog "github.com/Azure/azure-sdk-for-go/sdk/azcore/log"
)

func TestMain(m *testing.M) {
	if os.Getenv("EH_DEBUG") != "" {
		azlog.SetListener(func(e azlog.Event, s string) { fmt.Fprintf(os.Stderr, "[%s] %s\n", e, s) })
	}
	// The crash test runs this binary again as the program it kills.
	// The fence test runs it as two instances of a job, one it pauses.
	if os.Getenv(childEnv) != "" && os.Getenv(fenceGoEnv) != "" {
		os.Exit(fenceChild())
	}
	if os.Getenv(childEnv) != "" {
		os.Exit(streamChild())
	}
	os.Exit(m.Run())
}
