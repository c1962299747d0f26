package eventhubs

import (
	"reflect"
	"strings"
	"testing"
)

// A partition's prefetch is PrefetchPerPartition's, else Prefetch; it sets
// how many events a receive of that partition asks for, is copied in and
// out, checked, and carried by the map form.
func TestConfPrefetchPerPartition(t *testing.T) {
	per := map[string]int{"0": 200, "3": MaxPrefetch}
	c := NewConf(utPortal).SetPrefetch(300).SetPrefetchPerPartition(per)
	per["0"] = 1
	c.PrefetchPerPartition()["3"] = 1
	for id, want := range map[string]int{"0": 200, "3": MaxPrefetch, "1": 300} {
		if got := c.PrefetchFor(id); got != want {
			t.Errorf("PrefetchFor(%q) = %d, want %d", id, got, want)
		}
	}
	if got := receiveCount(c, "3"); got != maxCredit {
		t.Errorf("receiveCount(3) = %d, want the SDK's most, %d", got, maxCredit)
	}
	if got := receiveCount(c, "1"); got != 300 {
		t.Errorf("receiveCount(1) = %d, want Prefetch's 300", got)
	}

	m := c.ToMap()
	if got := m[confPrefetchPerPartition]; got != "0=200,3=10000" {
		t.Errorf("ToMap()[%q] = %q", confPrefetchPerPartition, got)
	}
	back, err := ConfFromMap(m)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := back.PrefetchPerPartition(), map[string]int{"0": 200, "3": MaxPrefetch}; !reflect.DeepEqual(got, want) {
		t.Errorf("PrefetchPerPartition() after the map form = %v, want %v", got, want)
	}
	if _, ok := NewConf(utPortal).ToMap()[confPrefetchPerPartition]; ok {
		t.Errorf("ToMap holds %s without SetPrefetchPerPartition", confPrefetchPerPartition)
	}
	if d := c.Clone(); d.SetPrefetchPerPartition(nil).PrefetchFor("0") != 300 || c.PrefetchFor("0") != 200 {
		t.Errorf("a clone shares the per-partition prefetch")
	}

	err = NewConf(utPortal).SetPrefetchPerPartition(map[string]int{"1": 0, "": 5}).Validate()
	if err == nil || !strings.Contains(err.Error(), `PrefetchPerPartition["1"] = 0: want 1 to 10000 events`) ||
		!strings.Contains(err.Error(), "PrefetchPerPartition has an empty partition ID") {
		t.Errorf("Validate = %v, want the zero prefetch and the empty partition ID", err)
	}
	_, err = ConfFromMap(map[string]string{confConnectionString: utPortal, confPrefetchPerPartition: "0=many"})
	if err == nil || !strings.Contains(err.Error(), confPrefetchPerPartition) || !strings.Contains(err.Error(), "partition 0") {
		t.Errorf("ConfFromMap with a bad prefetch = %v", err)
	}
}
