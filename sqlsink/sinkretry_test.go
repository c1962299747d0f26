package sqlsink

import (
	"errors"
	"net"
	"testing"
)

// Transient database errors are retried; the job's conflicts are not.
func TestRetryBatch(t *testing.T) {
	busy := errors.New("database is locked") // not a driver's error: not retried
	if _, ok := RetryBatch(busy, 1); ok {
		t.Errorf("a plain error is retried")
	}
	if _, ok := RetryBatch(&net.OpError{Op: "dial", Err: errors.New("connection refused")}, 1); !ok {
		t.Errorf("a network error is not retried")
	}
	if w, _ := RetryBatch(&net.OpError{Op: "dial", Err: errors.New("x")}, 40); w != maxRetryWait {
		t.Errorf("the 40th wait is %s, want the most, %s", w, maxRetryWait)
	}
}
