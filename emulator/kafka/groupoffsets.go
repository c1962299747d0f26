package kafka

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/ehstream/ehstream/durable"
)

// committed is one partition's committed offset.
type committed struct {
	Offset      int64   `json:"offset"`
	LeaderEpoch int32   `json:"leaderEpoch"`
	Metadata    *string `json:"metadata,omitempty"`
}

// groupOffsets is a group's committed offsets: topic → partition → offset.
type groupOffsets map[string]map[int32]committed

// groupFile is what a group's file holds.
type groupFile struct {
	Group   string       `json:"group"`
	Offsets groupOffsets `json:"offsets"`
}

// offsetStore keeps the groups' committed offsets: in memory, and, with a
// directory, in one file per group there (named by the group name in hex,
// as a group name may be any string), rewritten whole on each commit so
// that a restart finds what was acknowledged.
type offsetStore struct {
	dir string // "" keeps them in memory only

	mu     sync.Mutex // guards groups and the files
	groups map[string]groupOffsets
}

// openOffsetStore loads the groups' offsets kept in dir; "" is in memory.
func openOffsetStore(dir string) (*offsetStore, error) {
	s := &offsetStore{dir: dir, groups: map[string]groupOffsets{}}
	if dir == "" {
		return s, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("kafka: the consumer groups' directory: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("kafka: the consumer groups' directory: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".tmp") {
			// A commit a crash interrupted: the group's file before it stands.
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return nil, fmt.Errorf("kafka: the consumer groups' directory: %w", err)
			}
			continue
		}
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("kafka: a consumer group's offsets: %w", err)
		}
		var f groupFile
		if err := json.Unmarshal(raw, &f); err != nil {
			return nil, fmt.Errorf("kafka: consumer group offsets file %s does not parse (remove it to forget that group's offsets): %w", e.Name(), err)
		}
		s.groups[f.Group] = f.Offsets
	}
	return s, nil
}

// commit records offsets for a group, durably when the store has a
// directory; on error nothing changes.
func (s *offsetStore) commit(group string, offsets groupOffsets) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := groupOffsets{}
	for t, ps := range s.groups[group] {
		next[t] = maps.Clone(ps)
	}
	for t, ps := range offsets {
		if next[t] == nil {
			next[t] = map[int32]committed{}
		}
		maps.Copy(next[t], ps)
	}
	if err := s.write(group, next); err != nil {
		return err
	}
	s.groups[group] = next
	return nil
}

// fetch is a group's committed offset for one partition.
func (s *offsetStore) fetch(group, topic string, partition int32) (committed, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.groups[group][topic][partition]
	return c, ok
}

// topics lists the topics a group has committed offsets for, and their
// partitions, sorted.
func (s *offsetStore) topics(group string) map[string][]int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]int32{}
	for t, ps := range s.groups[group] {
		out[t] = slices.Sorted(maps.Keys(ps))
	}
	return out
}

// names lists the groups with committed offsets.
func (s *offsetStore) names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.groups))
}

// forget drops a group's offsets (DeleteGroups).
func (s *offsetStore) forget(group string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dir != "" {
		if err := os.Remove(s.path(group)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("kafka: forget consumer group offsets: %w", err)
		}
	}
	delete(s.groups, group)
	return nil
}

// maxHexName is the longest group id whose file is named by its hex: more
// would pass the 255 bytes file systems allow in a name.
const maxHexName = 100

func (s *offsetStore) path(group string) string {
	if len(group) > maxHexName {
		// The file holds the group's id; its name only has to be unique.
		sum := sha256.Sum256([]byte(group))
		return filepath.Join(s.dir, "sha256-"+hex.EncodeToString(sum[:])+".json")
	}
	return filepath.Join(s.dir, hex.EncodeToString([]byte(group))+".json")
}

// write replaces a group's file: a temporary file, synced, renamed over
// the old one, and the directory synced, so that a crash leaves the old
// file or the new one, never a torn one.
func (s *offsetStore) write(group string, offsets groupOffsets) error {
	if s.dir == "" {
		return nil
	}
	raw, err := json.Marshal(groupFile{Group: group, Offsets: offsets})
	if err != nil {
		return fmt.Errorf("kafka: encode consumer group offsets: %w", err)
	}
	if err := durable.WriteFile(s.path(group), raw); err != nil {
		return fmt.Errorf("kafka: write consumer group offsets: %w", err)
	}
	return nil
}
