package emulator

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ehstream/ehstream/emulator/amqp"
)

// MaxReadersPerGroup is the service's limit on concurrent readers without
// an owner level (epoch) of one partition in one consumer group; the next
// one is refused with amqp:resource-limit-exceeded until one detaches.
// (With an owner level there is one reader: it takes the partition.)
const MaxReadersPerGroup = 5

// tooManyReaders is the service's refusal of one reader too many, listing
// the readers connected (their receiver names, "nil" for a reader without
// one). The caller holds the partition's lock.
func tooManyReaders(group map[*consumer]string) *amqp.Error {
	names := make([]string, 0, len(group))
	for _, name := range group {
		if name == "" {
			name = "nil"
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return amqpErr(condResourceLimit, fmt.Sprintf(
		"Exceeded the maximum number of allowed receivers per partition in a consumer group which is %d. List of connected receivers - %s.",
		MaxReadersPerGroup, strings.Join(names, ", ")))
}
