package emulator

import (
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ehstream/ehstream/emulator/partlog"
)

// hub is one event hub: its partitions and consumer groups.
type hub struct {
	cfg        HubConfig
	createdAt  time.Time
	partitions []*partition
	groups     map[string]string // lower-case name → configured name
	nextRR     atomic.Uint32     // round robin for events with neither key nor partition
}

// partition is one partition's log and the consumers reading it.
type partition struct {
	hub *hub
	id  string
	log *partlog.Log

	mu      sync.Mutex                      // guards readers
	readers map[string]map[*consumer]string // group (lower-case) → consumers → receiver name

	counters partCounters
}

// openHub opens the hub's partition logs; onSync hears how long each of
// their fsyncs took.
func openHub(cfg HubConfig, c *Config, onSync func(time.Duration)) (*hub, error) {
	dataDir := c.DataDir
	h := &hub{cfg: cfg, groups: map[string]string{"$default": "$Default"}, createdAt: time.Now().UTC().Truncate(time.Millisecond)}
	if h.cfg.MaxEventSize == 0 {
		h.cfg.MaxEventSize = DefaultMaxEventSize
	}
	for _, g := range cfg.ConsumerGroups {
		h.groups[strings.ToLower(g)] = g
	}
	var hubDir string
	if dataDir != "" {
		hubDir = filepath.Join(dataDir, cfg.Name)
		created, err := loadCreatedAt(hubDir)
		if err != nil {
			return nil, err
		}
		h.createdAt = created
	}
	for i := 0; i < cfg.PartitionCount; i++ {
		id := strconv.Itoa(i)
		opts := partlog.Options{Retention: cfg.Retention, Repair: c.Repair, Logger: c.Logger.With("hub", cfg.Name, "partition", id), OnSync: onSync}
		if hubDir != "" {
			opts.Dir = filepath.Join(hubDir, id)
			if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
				h.close()
				return nil, fmt.Errorf("emulator: hub %q partition %s: %w", cfg.Name, id, err)
			}
		}
		l, err := partlog.Open(opts)
		if err != nil {
			h.close()
			return nil, fmt.Errorf("emulator: hub %q partition %s: %w", cfg.Name, id, err)
		}
		h.partitions = append(h.partitions, &partition{hub: h, id: id, log: l, readers: map[string]map[*consumer]string{}})
	}
	return h, nil
}

// loadCreatedAt keeps a hub's creation time across restarts, as the service
// reports it in the hub's properties.
func loadCreatedAt(dir string) (time.Time, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return time.Time{}, fmt.Errorf("emulator: %w", err)
	}
	path := filepath.Join(dir, "created_at")
	if b, err := os.ReadFile(path); err == nil {
		if t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b))); err == nil {
			return t, nil
		}
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	if err := os.WriteFile(path, []byte(now.Format(time.RFC3339Nano)+"\n"), 0o644); err != nil {
		return time.Time{}, fmt.Errorf("emulator: %w", err)
	}
	return now, nil
}

func (h *hub) close() error {
	var errs []error
	for _, p := range h.partitions {
		errs = append(errs, p.log.Close())
	}
	return errors.Join(errs...)
}

func (h *hub) partition(id string) *partition {
	n, err := strconv.Atoi(id)
	if err != nil || n < 0 || n >= len(h.partitions) || strconv.Itoa(n) != id {
		return nil
	}
	return h.partitions[n]
}

func (h *hub) group(name string) (string, bool) {
	g, ok := h.groups[strings.ToLower(name)]
	return g, ok
}

// route picks the partition for a message sent to the hub itself: the same
// key always maps to the same partition, and keyless messages go round robin.
func (h *hub) route(key string, hasKey bool) *partition {
	if hasKey {
		f := fnv.New32a()
		f.Write([]byte(key))
		return h.partitions[f.Sum32()%uint32(len(h.partitions))]
	}
	return h.partitions[(h.nextRR.Add(1)-1)%uint32(len(h.partitions))]
}

func (h *hub) partitionIDs() []string {
	ids := make([]string, len(h.partitions))
	for i, p := range h.partitions {
		ids[i] = p.id
	}
	return ids
}
