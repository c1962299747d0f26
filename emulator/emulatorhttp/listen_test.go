package emulatorhttp_test

import (
	"strings"
	"testing"

	"github.com/ehstream/ehstream/emulator/emulatorhttp"
)

// TestCheckListen: the endpoints are served on loopback, elsewhere only
// when insecure.
func TestCheckListen(t *testing.T) {
	for _, tc := range []struct {
		addr     string
		insecure bool
		ok       bool
	}{
		{"127.0.0.1:5300", false, true},
		{"127.0.0.2:0", false, true},
		{"localhost:5300", false, true},
		{"[::1]:5300", false, true},
		{"0.0.0.0:5300", false, false},
		{":5300", false, false},
		{"[::]:5300", false, false},
		{"192.168.1.10:5300", false, false},
		{"myhost.example:5300", false, false},
		{"0.0.0.0:5300", true, true},
		{"192.168.1.10:5300", true, true},
	} {
		err := emulatorhttp.CheckListen(tc.addr, tc.insecure)
		if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), "--insecure")) {
			t.Errorf("CheckListen(%s, insecure=%v) = %v, want allowed %v", tc.addr, tc.insecure, err, tc.ok)
		}
	}
}
