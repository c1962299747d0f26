package eventhubs_test

import (
	"slices"
	"testing"

	"github.com/ehstream/ehstream/eventhubs"
)

func TestComparePartitionIDs(t *testing.T) {
	ids := []string{"10", "b", "2", "a", "0"}
	slices.SortFunc(ids, eventhubs.ComparePartitionIDs)
	if want := []string{"0", "2", "10", "a", "b"}; !slices.Equal(ids, want) {
		t.Errorf("sorted %v, want %v", ids, want)
	}
}
