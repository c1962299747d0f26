package emulator_test

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
	"github.com/ehstream/ehstream/emulator"
)

// TestTokenForAnotherNamespace: a token signed with the right key but for
// a resource on a host that is not this emulator's (another namespace) is
// refused at put-token, so a link to the hub it names is refused too; a
// token for a name the emulator is given (Config.HostNames, --tls-name)
// works, as tokens for its loopback names and addresses do.
func TestTokenForAnotherNamespace(t *testing.T) {
	logs := &syncBuffer{}
	srv := start(t, &emulator.Config{HostNames: []string{"emulator.test"}, SASPolicies: []emulator.SASPolicy{{Name: "app", Key: testKeyAll}},
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	ctx := testCtx(t, 20*time.Second)
	expires := time.Now().Add(time.Hour)
	for _, tc := range []struct {
		audience string
		ok       bool
	}{
		{"sb://other-namespace.servicebus.windows.net/eh1", false},
		{"amqp://other-namespace.servicebus.windows.net:5671/eh1/Partitions/0", false},
		{"sb://127.0.0.1.evil.example/eh1", false},
		{"sb://emulator.test/eh1", true},
		{"amqp://localhost:5672/eh1", true},
		{"sb://" + srv.Addr() + "/eh1", true},
		{"sb://[::1]:5672/eh1", true},
	} {
		t.Run(tc.audience, func(t *testing.T) {
			conn, err := goamqp.Dial(ctx, "amqp://"+srv.Addr(), &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			token, _ := sasToken(tc.audience, "app", testKeyAll, expires)
			code, desc, err := newCBS(t, ctx, conn).putToken(ctx, tc.audience, token, expires)
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int32{true: 202, false: 401}[tc.ok]; code != want {
				t.Fatalf("put-token: %d %q, want %d", code, desc, want)
			}
			if !tc.ok && !strings.Contains(desc, "is not a name of this emulator") {
				t.Errorf("put-token refused with %q, want it to say the host is not the emulator's", desc)
			}
			sess, err := conn.NewSession(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			snd, err := sess.NewSender(ctx, "eh1/Partitions/0", nil)
			if err == nil {
				err = snd.Send(ctx, goamqp.NewMessage([]byte("x")), nil)
			}
			// go-amqp reports a refused attach as an *Error, a detach as a *LinkError.
			var ae *goamqp.Error
			var le *goamqp.LinkError
			if errors.As(err, &le) && le.RemoteErr != nil {
				ae = le.RemoteErr
			}
			refused := (ae != nil || errors.As(err, &ae)) && ae.Condition == "amqp:unauthorized-access"
			if refused == tc.ok {
				t.Fatalf("sending to eh1 after the put-token: %v, want refused %v", err, !tc.ok)
			}
		})
	}
	assertNoSecrets(t, "the emulator's log", logs.String(), testKeyAll)
}
