package eventhubs

import (
	"cmp"
	"strconv"
)

// ComparePartitionIDs orders partition IDs as people count them: numbers
// numerically ("2" before "10"), any other ID as a string, for listings
// sorted by partition.
func ComparePartitionIDs(a, b string) int {
	ai, aerr := strconv.Atoi(a)
	bi, berr := strconv.Atoi(b)
	if aerr == nil && berr == nil {
		return cmp.Compare(ai, bi)
	}
	return cmp.Compare(a, b)
}
