package eventhubs_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
)

const (
	authKeyApp    = "YXBwLWtleS1mb3ItZXZlbnRodWJzLXRlc3RzLTAxMjM0NTY="
	authKeyReader = "cmVhZGVyLWtleS1mb3ItZXZlbnRodWJzLXRlc3RzLTAxMjM="
	authKeyWrong  = "d3Jvbmcta2V5LWZvci1ldmVudGh1YnMtdGVzdHMtMDEyMzQ="
)

// startAuthEmulator runs an emulator with policies "app" (all rights) and
// "reader" (listen), hubs eh1 and eh2.
func startAuthEmulator(t *testing.T) *emulator.Server {
	t.Helper()
	return startWith(t, &emulator.Config{
		Hubs: []emulator.HubConfig{{Name: "eh1", PartitionCount: 2}, {Name: "eh2", PartitionCount: 1}},
		SASPolicies: []emulator.SASPolicy{
			{Name: "app", Key: authKeyApp},
			{Name: "reader", Key: authKeyReader, Rights: emulator.RightListen},
		},
	})
}

// sasSignature signs resource the way the SDKs do; it returns the token
// and its signature.
func sasSignature(resource, policy, key string, expires time.Time) (string, string) {
	sr := url.QueryEscape(resource)
	se := fmt.Sprint(expires.Unix())
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(sr + "\n" + se))
	sig := url.QueryEscape(base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	return "SharedAccessSignature sr=" + sr + "&sig=" + sig + "&se=" + se + "&skn=" + policy, sig
}

// TestUnauthorizedFailsFast: with SAS policies on the emulator, a wrong
// key, an expired token and a token for another hub make DescribeHub and
// CreateRDD fail with CodeUnauthorized within 2 s, and the error shows no
// key or signature; the right key and a valid token read.
func TestUnauthorizedFailsFast(t *testing.T) {
	srv := startAuthEmulator(t)
	ctx := testCtx(t, 60*time.Second)
	endpoint := "Endpoint=sb://" + srv.Addr()
	expired, expiredSig := sasSignature("sb://"+srv.Addr()+"/eh1", "app", authKeyApp, time.Now().Add(-time.Minute))
	otherHub, otherSig := sasSignature("sb://"+srv.Addr()+"/eh2", "app", authKeyApp, time.Now().Add(time.Hour))
	valid, validSig := sasSignature("sb://"+srv.Addr()+"/eh1", "app", authKeyApp, time.Now().Add(time.Hour))
	secrets := []string{authKeyApp, authKeyReader, authKeyWrong, expiredSig, otherSig, validSig}
	withKey := func(policy, key string) string {
		return endpoint + ";SharedAccessKeyName=" + policy + ";SharedAccessKey=" + key + ";UseDevelopmentEmulator=true;EntityPath=eh1"
	}
	withToken := func(tok string) string {
		return endpoint + ";SharedAccessSignature=" + tok + ";UseDevelopmentEmulator=true;EntityPath=eh1"
	}
	fill(t, ctx, srv, "eh1", "0", 0, 3)
	ranges := []eventhubs.OffsetRange{{Name: "eh1", PartitionID: "0", FromSeqNo: 0, UntilSeqNo: 3}}

	for _, tc := range []struct{ name, connStr string }{
		{"key", withKey("app", authKeyApp)},
		{"listen-only key", withKey("reader", authKeyReader)},
		{"token", withToken(valid)},
	} {
		t.Run("works with "+tc.name, func(t *testing.T) {
			conf := eventhubs.NewConf(tc.connStr).SetOperationTimeout(10 * time.Second)
			hp, err := eventhubs.DescribeHub(ctx, conf)
			if err != nil || len(hp.Partitions) != 2 || hp.Partitions[0].End != 3 {
				t.Fatalf("DescribeHub: %+v %v", hp, err)
			}
			rdd, err := eventhubs.CreateRDD(ctx, conf, ranges)
			if err != nil {
				t.Fatal(err)
			}
			evs, err := rdd.Collect(ctx)
			if err != nil || len(evs) != 3 {
				t.Fatalf("Collect: %d events, %v", len(evs), err)
			}
		})
	}

	for _, tc := range []struct{ name, connStr, reason string }{
		{"wrong key", withKey("app", authKeyWrong), "bad signature"},
		{"expired token", withToken(expired), "expired"},
		{"token of another hub", withToken(otherHub), "wrong audience"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A long OperationTimeout: a refusal must not be retried until it ends.
			conf := eventhubs.NewConf(tc.connStr).SetOperationTimeout(time.Minute)
			assertRefusedAtOnce(t, ctx, conf, ranges, tc.reason, secrets...)
		})
	}
}
