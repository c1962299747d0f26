package emulator_test

import (
	"strings"
	"testing"

	"github.com/ehstream/ehstream/emulator"
)

// TestHubNamesAsTheServiceTakesThem: a hub name starts and ends with a
// letter or digit, as on Event Hubs; so no hub's directory can be one of
// the data directory's own (".kafka-groups").
func TestHubNamesAsTheServiceTakesThem(t *testing.T) {
	for _, name := range []string{"orders", "eh1", "a", "Orders.EU-1_x", "9lives"} {
		cfg := emulator.Config{Hubs: []emulator.HubConfig{{Name: name, PartitionCount: 1}}}
		if err := cfg.Validate(); err != nil {
			t.Errorf("hub %q: %v, want it taken", name, err)
		}
	}
	for _, name := range []string{emulator.KafkaGroupsDir, ".tls", "orders-", "_orders", "orders."} {
		cfg := emulator.Config{Hubs: []emulator.HubConfig{{Name: name, PartitionCount: 1}}}
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), "must start and end with a letter or digit") || !strings.Contains(err.Error(), name) {
			t.Errorf("hub %q: %v, want a refusal naming it and the rule", name, err)
		}
	}
}
