package emulator

import (
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator/kafka"
)

// TestKafkaAuthenticate: SASL PLAIN's connection strings are checked as
// the AMQP listener checks keys and tokens; refusals say why and show no
// key; rights and EntityPath make the connection's access.
func TestKafkaAuthenticate(t *testing.T) {
	srv := &Server{cfg: Config{SASPolicies: []SASPolicy{{Name: "app", Key: unitKey}, {Name: "reader", Key: unitKey, Rights: RightListen}}}}
	later := time.Now().Add(time.Hour).Unix()
	const ep = "Endpoint=sb://localhost:9093/;"
	for _, tc := range []struct {
		name, user, password string
		want                 kafka.Access
		refusal              string // "" when accepted
	}{
		{"key", "$ConnectionString", ep + "SharedAccessKeyName=app;SharedAccessKey=" + unitKey,
			kafka.Access{Send: true, Listen: true, Principal: "policy 'app'"}, ""},
		{"listen-only key, one hub", "$ConnectionString", ep + "SharedAccessKeyName=reader;SharedAccessKey=" + unitKey + ";EntityPath=eh1",
			kafka.Access{Listen: true, Topic: "eh1", Principal: "policy 'reader'"}, ""},
		{"signature for a hub", "$ConnectionString", ep + "SharedAccessSignature=" + sign("sb://127.0.0.1/eh1", "app", unitKey, later, false),
			kafka.Access{Send: true, Listen: true, Topic: "eh1", Principal: "policy 'app'", Expires: time.Unix(later, 0).UTC()}, ""},
		{"expired signature", "$ConnectionString", ep + "SharedAccessSignature=" + sign("sb://localhost/eh1", "app", unitKey, time.Now().Unix()-1, false),
			kafka.Access{}, "expired"},
		{"wrong key", "$ConnectionString", ep + "SharedAccessKeyName=app;SharedAccessKey=d3Jvbmc=", kafka.Access{}, "policy 'app': wrong SharedAccessKey"},
		{"unknown policy", "$ConnectionString", ep + "SharedAccessKeyName=nobody;SharedAccessKey=" + unitKey, kafka.Access{}, "unknown policy 'nobody'"},
		{"user", "alice", ep + "SharedAccessKeyName=app;SharedAccessKey=" + unitKey, kafka.Access{}, "want $ConnectionString"},
		{"not a connection string", "$ConnectionString", unitKey, kafka.Access{}, "not an Event Hubs connection string"},
		{"another namespace", "$ConnectionString", "Endpoint=sb://other.servicebus.windows.net/;SharedAccessKeyName=app;SharedAccessKey=" + unitKey,
			kafka.Access{}, "not a name of this emulator"},
		{"signature with a wrong key", "$ConnectionString", ep + "SharedAccessSignature=" + sign("sb://localhost/eh1", "app", "other", later, false),
			kafka.Access{}, "bad signature"},
		{"signature for another hub", "$ConnectionString", ep + "EntityPath=eh2;SharedAccessSignature=" + sign("sb://localhost/eh1", "app", unitKey, later, false),
			kafka.Access{}, "wrong audience"},
	} {
		got, err := srv.kafkaAuthenticate(tc.user, tc.password)
		switch {
		case tc.refusal == "" && (err != nil || got != tc.want):
			t.Errorf("%s: %+v, %v; want %+v", tc.name, got, err, tc.want)
		case tc.refusal != "" && (err == nil || !strings.Contains(err.Error(), tc.refusal)):
			t.Errorf("%s: %+v, %v; want a refusal saying %q", tc.name, got, err, tc.refusal)
		case err != nil && strings.Contains(err.Error(), unitKey):
			t.Errorf("%s: the refusal shows the key: %v", tc.name, err)
		}
	}
}

// TestCheckExposureKafka: the plain Kafka listener is plain like AMQP's,
// Kafka over TLS is not; both need a policy off loopback.
func TestCheckExposureKafka(t *testing.T) {
	policies := []SASPolicy{{Name: "app", Key: unitKey}}
	for _, tc := range []struct {
		cfg  Config
		want string // "" allowed
	}{
		{Config{KafkaListen: "127.0.0.1:9092"}, ""},
		{Config{KafkaListen: "0.0.0.0:9092", SASPolicies: policies}, "plain Kafka without TLS"},
		{Config{KafkaTLSListen: "0.0.0.0:9093"}, "no SAS policy"},
		{Config{KafkaTLSListen: "0.0.0.0:9093", SASPolicies: policies}, ""},
		{Config{KafkaListen: "0.0.0.0:9092", Insecure: true}, ""},
	} {
		err := checkExposure(tc.cfg)
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}
