package emulator

// Faults on demand: the emulator refuses sends as busy, detaches
// receivers, drops connections, delays what it writes or pauses a
// partition, when a test (InjectFault), the admin API (FaultsHandler) or a
// file at start (ParseFaults) asks. Faults act inside the handlers, so
// everything else about a request stays real.
//
// Locks: faultSet.mu is taken by nothing but the fault functions here, and
// nothing else is taken under it. The hooks on the hot paths (busyFor,
// frameDelay, holdBack) take no lock: they read an immutable view that
// every change replaces.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ehstream/ehstream/emulator/amqp"
)

// FaultKind names what a fault does.
type FaultKind string

const (
	// FaultServerBusy refuses sends (to Hub and Partition, when given) with
	// com.microsoft:server-busy for Duration: each delivery gets a
	// rejected disposition and nothing is stored. The official SDKs retry
	// it.
	FaultServerBusy FaultKind = "server-busy"
	// FaultDetachReceivers detaches every receiving link of Partition of
	// Hub (every partition when Partition is "", every hub when Hub is "")
	// once, with the error Condition (default amqp:link:detach-forced,
	// which the SDKs answer with a new link where the old one stopped).
	FaultDetachReceivers FaultKind = "detach-receivers"
	// FaultDropConnections resets every connection once, abruptly: a TCP
	// reset, no close performative. The SDKs reconnect.
	FaultDropConnections FaultKind = "drop-connections"
	// FaultDelayFrames makes every write of AMQP frames on every
	// connection wait Delay first, for Duration. A connection's writes
	// are in order, so they are then at least Delay apart.
	FaultDelayFrames FaultKind = "delay-frames"
	// FaultPausePartition stops deliveries from Partition of Hub (every
	// partition when Partition is "", every hub when Hub is "") for
	// Duration. Links stay attached and keep their credit; sends are
	// stored as usual.
	FaultPausePartition FaultKind = "pause-partition"
)

// FaultKinds lists every kind of fault.
var FaultKinds = []FaultKind{FaultServerBusy, FaultDetachReceivers, FaultDropConnections, FaultDelayFrames, FaultPausePartition}

// DefaultDetachCondition is the error a detach-receivers fault sends when
// it names none.
const DefaultDetachCondition = "amqp:link:detach-forced"

// MaxFaultDelay bounds a delay-frames fault's Delay: a write waits while
// holding the connection's other writers.
const MaxFaultDelay = time.Minute

// Fault says what to break, where, and for how long. In JSON (the admin
// API and the --faults file) durations are Go duration strings:
//
//	{"kind":"server-busy","duration":"5s"}
//	{"kind":"detach-receivers","hub":"eh1","partition":"0","condition":"amqp:link:detach-forced"}
//	{"kind":"drop-connections"}
//	{"kind":"delay-frames","delay":"200ms","duration":"10s"}
//	{"kind":"pause-partition","hub":"eh1","partition":"1","duration":"3s"}
type Fault struct {
	Kind FaultKind
	// Hub and Partition narrow server-busy, detach-receivers and
	// pause-partition; "" means every hub, or every partition of Hub.
	// Hub names are not case-sensitive. A Partition needs a Hub.
	Hub, Partition string
	// Condition is the AMQP error detach-receivers sends
	// (DefaultDetachCondition when "").
	Condition string
	// Duration is how long server-busy, delay-frames and pause-partition
	// last, from injection; 0 means until removed.
	Duration time.Duration
	// Delay is how long delay-frames holds each write (above 0, at most
	// MaxFaultDelay).
	Delay time.Duration
}

// Timed reports whether faults of the kind last (Duration, or until
// removed) rather than fire once.
func (k FaultKind) Timed() bool {
	return k == FaultServerBusy || k == FaultDelayFrames || k == FaultPausePartition
}

func kindList() string {
	names := make([]string, len(FaultKinds))
	for i, k := range FaultKinds {
		names[i] = string(k)
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// Validate explains the first thing wrong with f that needs no server to
// see: the kind, the fields the kind takes, negative durations. Whether
// the hub and partition exist is checked when the fault is injected.
func (f Fault) Validate() error {
	if f.Kind == "" {
		return fmt.Errorf("fault: kind is missing; want %s", kindList())
	}
	if !slices.Contains(FaultKinds, f.Kind) {
		return fmt.Errorf("fault: kind %q is unknown; want %s", f.Kind, kindList())
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("fault %s: "+format, append([]any{f.Kind}, args...)...)
	}
	if f.Duration < 0 {
		return bad("duration %s is negative", f.Duration)
	}
	if f.Delay < 0 {
		return bad("delay %s is negative", f.Delay)
	}
	if f.Duration > 0 && !f.Kind.Timed() {
		return bad("fires once, so it takes no duration (got %s)", f.Duration)
	}
	if f.Delay > 0 && f.Kind != FaultDelayFrames {
		return bad("takes no delay (got %s); only delay-frames does", f.Delay)
	}
	if f.Condition != "" && f.Kind != FaultDetachReceivers {
		return bad("takes no condition (got %q); only detach-receivers does", f.Condition)
	}
	switch f.Kind {
	case FaultDropConnections, FaultDelayFrames:
		if f.Hub != "" || f.Partition != "" {
			return bad("applies to every connection, so it takes no hub or partition (got hub %q, partition %q)", f.Hub, f.Partition)
		}
	default:
		if f.Partition != "" && f.Hub == "" {
			return bad("partition %q needs a hub", f.Partition)
		}
	}
	if f.Kind == FaultDelayFrames {
		if f.Delay == 0 {
			return bad("delay is missing; give one above 0, such as \"200ms\"")
		}
		if f.Delay > MaxFaultDelay {
			return bad("delay %s is over the limit of %s", f.Delay, MaxFaultDelay)
		}
	}
	if c := f.Condition; c != "" && (len(c) > 256 || strings.ContainsFunc(c, func(r rune) bool { return r <= ' ' || r > '~' })) {
		return bad("condition %q is not an AMQP error condition such as %q", c, DefaultDetachCondition)
	}
	return nil
}

// String describes f as its JSON does.
func (f Fault) String() string {
	b, _ := json.Marshal(f)
	return string(b)
}

// faultJSON is a Fault on the wire.
type faultJSON struct {
	Kind      FaultKind `json:"kind"`
	Hub       string    `json:"hub,omitempty"`
	Partition string    `json:"partition,omitempty"`
	Condition string    `json:"condition,omitempty"`
	Duration  string    `json:"duration,omitempty"`
	Delay     string    `json:"delay,omitempty"`
}

func (f Fault) wire() faultJSON {
	w := faultJSON{Kind: f.Kind, Hub: f.Hub, Partition: f.Partition, Condition: f.Condition}
	if f.Duration != 0 {
		w.Duration = f.Duration.String()
	}
	if f.Delay != 0 {
		w.Delay = f.Delay.String()
	}
	return w
}

// MarshalJSON writes durations as Go duration strings.
func (f Fault) MarshalJSON() ([]byte, error) { return json.Marshal(f.wire()) }

// UnmarshalJSON reads a fault object; unknown fields, and durations that
// are not Go duration strings, are errors naming them.
func (f *Fault) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("a fault is a JSON object such as {\"kind\":\"server-busy\",\"duration\":\"5s\"}: %w", err)
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the same error for the same input
	var out Fault
	for _, k := range keys {
		v := raw[k]
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			if k == "duration" || k == "delay" {
				return fmt.Errorf("fault field %q: %s is not a Go duration string such as \"500ms\" or \"5s\"", k, v)
			}
			return fmt.Errorf("fault field %q: %s is not a string", k, v)
		}
		switch k {
		case "kind":
			out.Kind = FaultKind(s)
		case "hub":
			out.Hub = s
		case "partition":
			out.Partition = s
		case "condition":
			out.Condition = s
		case "duration", "delay":
			d, err := time.ParseDuration(s)
			if err != nil {
				return fmt.Errorf("fault field %q: %q is not a Go duration such as \"500ms\" or \"5s\"", k, s)
			}
			if k == "duration" {
				out.Duration = d
			} else {
				out.Delay = d
			}
		default:
			return fmt.Errorf("fault field %q is unknown; a fault has kind, hub, partition, condition, duration and delay", k)
		}
	}
	*f = out
	return nil
}

// ParseFaults reads what POST /faults and the --faults file hold: one
// fault object or an array of them. Each is validated; the error names
// the fault (by its index in an array) and the bad value.
func ParseFaults(data []byte) ([]Fault, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, errors.New("no fault: want a JSON object such as {\"kind\":\"drop-connections\"} or an array of them")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var faults []Fault
	var err error
	if data[0] == '[' {
		var raws []json.RawMessage
		if err = dec.Decode(&raws); err == nil {
			for i, raw := range raws {
				var f Fault
				if err := json.Unmarshal(raw, &f); err != nil {
					return nil, fmt.Errorf("item %d of the array: %w", i, err)
				}
				if err := f.Validate(); err != nil {
					return nil, fmt.Errorf("item %d of the array: %w", i, err)
				}
				faults = append(faults, f)
			}
			if len(faults) == 0 {
				return nil, errors.New("an empty array: no fault to inject")
			}
		}
	} else {
		var f Fault
		if err = dec.Decode(&f); err == nil {
			if err := f.Validate(); err != nil {
				return nil, err
			}
			faults = []Fault{f}
		}
	}
	if err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("not valid JSON: %w", err)
		}
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value: send one fault object, or an array of them")
	}
	return faults, nil
}

// ActiveFault is a fault the server took: the timed ones while they last
// (Faults lists them), and what InjectFault returns for every kind.
type ActiveFault struct {
	ID      int64
	Fault   Fault
	Started time.Time
	// Ends is when a timed fault ends by itself: zero when it lasts until
	// removed, Started for one that fired once.
	Ends time.Time
	// Hits is what the fault did so far: sends refused (server-busy),
	// links detached (detach-receivers), connections dropped
	// (drop-connections), writes delayed (delay-frames), or times a
	// receiver with credit and events to deliver was held back
	// (pause-partition).
	Hits int64
}

// MarshalJSON writes the fault's fields flat, beside id, started, ends
// (RFC 3339, omitted when the fault lasts until removed) and hits.
func (a ActiveFault) MarshalJSON() ([]byte, error) {
	type out struct {
		ID int64 `json:"id"`
		faultJSON
		Started time.Time  `json:"started"`
		Ends    *time.Time `json:"ends,omitempty"`
		Hits    int64      `json:"hits"`
	}
	o := out{ID: a.ID, faultJSON: a.Fault.wire(), Started: a.Started, Hits: a.Hits}
	if !a.Ends.IsZero() {
		o.Ends = &a.Ends
	}
	return json.Marshal(o)
}

// faultSet is the server's faults. The zero value has none.
type faultSet struct {
	mu       sync.Mutex
	nextID   int64
	active   map[int64]*activeFault // the timed ones
	injected map[FaultKind]int64
	hits     map[FaultKind]*atomic.Int64 // each fault of a kind adds to its kind's

	view atomic.Pointer[faultView] // nil: none active

	rejected, detached, dropped atomic.Int64
}

// activeFault is a fault with its targets resolved.
type activeFault struct {
	id            int64
	f             Fault
	hub           *hub       // nil: every hub
	part          *partition // nil: every partition of hub
	started, ends time.Time
	timer         *time.Timer
	hits          atomic.Int64
	kindHits      *atomic.Int64 // faultSet.hits of the fault's kind
}

// hit counts n times the fault acted.
func (af *activeFault) hit(n int64) {
	af.hits.Add(n)
	af.kindHits.Add(n)
}

func (af *activeFault) matches(p *partition) bool {
	return (af.hub == nil || af.hub == p.hub) && (af.part == nil || af.part == p)
}

func (af *activeFault) live(now time.Time) bool { return af.ends.IsZero() || now.Before(af.ends) }

func (af *activeFault) snapshot() ActiveFault {
	return ActiveFault{ID: af.id, Fault: af.f, Started: af.started, Ends: af.ends, Hits: af.hits.Load()}
}

// faultView is the active faults by kind, replaced whole on every change.
type faultView struct {
	busy, delay, pause []*activeFault
	changed            chan struct{} // closed when the view is replaced
}

// InjectFault validates f against the server (its hub and partition must
// exist) and applies it: a timed fault starts now and lasts its Duration,
// or until removed; a one-shot fault fires before InjectFault returns, and
// the result's Hits says how many links or connections it hit.
func (s *Server) InjectFault(f Fault) (ActiveFault, error) {
	out, err := s.InjectFaults([]Fault{f})
	if err != nil {
		return ActiveFault{}, err
	}
	return out[0], nil
}

// InjectFaults validates every fault first and injects none unless all
// are valid; then injects them in order.
func (s *Server) InjectFaults(faults []Fault) ([]ActiveFault, error) {
	resolved := make([]*activeFault, len(faults))
	for i, f := range faults {
		af, err := s.resolveFault(f)
		if err != nil {
			if len(faults) > 1 {
				err = fmt.Errorf("faults[%d]: %w", i, err)
			}
			return nil, err
		}
		resolved[i] = af
	}
	out := make([]ActiveFault, len(resolved))
	for i, af := range resolved {
		out[i] = s.inject(af)
	}
	return out, nil
}

func (s *Server) resolveFault(f Fault) (*activeFault, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	af := &activeFault{f: f}
	if f.Kind == FaultDetachReceivers && f.Condition == "" {
		af.f.Condition = DefaultDetachCondition
	}
	if f.Hub != "" {
		if af.hub = s.hub(f.Hub); af.hub == nil {
			names := make([]string, len(s.hubList))
			for i, h := range s.hubList {
				names[i] = h.cfg.Name
			}
			return nil, fmt.Errorf("fault %s: hub %q is not served by the emulator (it serves %s)", f.Kind, f.Hub, strings.Join(names, ", "))
		}
		if f.Partition != "" {
			if af.part = af.hub.partition(f.Partition); af.part == nil {
				return nil, fmt.Errorf("fault %s: hub %s has no partition %q; its partitions are 0 to %d", f.Kind, af.hub.cfg.Name, f.Partition, len(af.hub.partitions)-1)
			}
		}
	}
	return af, nil
}

func (s *Server) inject(af *activeFault) ActiveFault {
	fs := &s.faults
	fs.mu.Lock()
	fs.nextID++
	af.id = fs.nextID
	af.started = time.Now()
	if fs.injected == nil {
		fs.injected = map[FaultKind]int64{}
	}
	fs.injected[af.f.Kind]++
	if fs.hits == nil {
		fs.hits = map[FaultKind]*atomic.Int64{}
	}
	if fs.hits[af.f.Kind] == nil {
		fs.hits[af.f.Kind] = new(atomic.Int64)
	}
	af.kindHits = fs.hits[af.f.Kind]
	timed := af.f.Kind.Timed()
	if timed {
		if af.f.Duration > 0 {
			af.ends = af.started.Add(af.f.Duration)
			id := af.id
			af.timer = time.AfterFunc(af.f.Duration, func() { s.removeFault(id, "ended") })
		}
		if fs.active == nil {
			fs.active = map[int64]*activeFault{}
		}
		fs.active[af.id] = af
		fs.rebuildLocked()
	} else {
		af.ends = af.started
	}
	fs.mu.Unlock()

	switch af.f.Kind {
	case FaultDetachReceivers:
		n := s.detachReceivers(af)
		af.hit(int64(n))
		fs.detached.Add(int64(n))
	case FaultDropConnections:
		n := s.dropConnections()
		af.hit(int64(n))
		fs.dropped.Add(int64(n))
	}
	out := af.snapshot()
	args := []any{"id", af.id, "kind", af.f.Kind}
	if af.f.Hub != "" {
		args = append(args, "hub", af.f.Hub)
	}
	if af.f.Partition != "" {
		args = append(args, "partition", af.f.Partition)
	}
	if af.f.Condition != "" {
		args = append(args, "condition", af.f.Condition)
	}
	if af.f.Delay > 0 {
		args = append(args, "delay", af.f.Delay)
	}
	if timed {
		d := "until removed"
		if af.f.Duration > 0 {
			d = af.f.Duration.String()
		}
		args = append(args, "duration", d)
	} else {
		args = append(args, "hits", out.Hits)
	}
	s.log.Warn("fault injected", args...)
	return out
}

// rebuildLocked publishes a new view of the active faults and wakes
// whoever waits on the old one; fs.mu held.
func (fs *faultSet) rebuildLocked() {
	v := &faultView{changed: make(chan struct{})}
	ids := make([]int64, 0, len(fs.active))
	for id := range fs.active {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		af := fs.active[id]
		switch af.f.Kind {
		case FaultServerBusy:
			v.busy = append(v.busy, af)
		case FaultDelayFrames:
			v.delay = append(v.delay, af)
		case FaultPausePartition:
			v.pause = append(v.pause, af)
		}
	}
	if len(ids) == 0 {
		v = nil
	}
	if old := fs.view.Swap(v); old != nil {
		close(old.changed)
	}
}

// Faults lists the timed faults in effect, oldest first. One-shot faults
// are done when InjectFault returns and are not listed; Stats counts them.
func (s *Server) Faults() []ActiveFault {
	fs := &s.faults
	fs.mu.Lock()
	defer fs.mu.Unlock()
	out := make([]ActiveFault, 0, len(fs.active))
	for _, af := range fs.active {
		out = append(out, af.snapshot())
	}
	slices.SortFunc(out, func(a, b ActiveFault) int { return int(a.ID - b.ID) })
	return out
}

// RemoveFault ends the timed fault with the given ID; false if there is
// none (it ended, or was never there).
func (s *Server) RemoveFault(id int64) bool { return s.removeFault(id, "removed") }

func (s *Server) removeFault(id int64, why string) bool {
	fs := &s.faults
	fs.mu.Lock()
	af, ok := fs.active[id]
	if ok {
		delete(fs.active, id)
		if af.timer != nil {
			af.timer.Stop()
		}
		fs.rebuildLocked()
	}
	fs.mu.Unlock()
	if ok {
		s.log.Warn("fault "+why, "id", id, "kind", af.f.Kind, "hits", af.hits.Load())
	}
	return ok
}

// ClearFaults ends every timed fault and returns how many there were.
func (s *Server) ClearFaults() int {
	fs := &s.faults
	fs.mu.Lock()
	n := len(fs.active)
	for _, af := range fs.active {
		if af.timer != nil {
			af.timer.Stop()
		}
	}
	fs.active = nil
	if n > 0 {
		fs.rebuildLocked()
	}
	fs.mu.Unlock()
	if n > 0 {
		s.log.Warn("faults cleared", "removed", n)
	}
	return n
}

// FaultStats counts faults and what they did, since the server started.
type FaultStats struct {
	Injected map[FaultKind]int64 // faults injected, by kind
	// Hits counts, by kind, the times faults acted: sends refused
	// (server-busy), links detached (detach-receivers), connections reset
	// (drop-connections), writes delayed (delay-frames), and receivers with
	// credit and events held back (pause-partition). Every kind is there,
	// 0 included; Injected has only the kinds injected.
	Hits               map[FaultKind]int64
	SendsRejected      int64 // deliveries refused as busy (server-busy)
	ReceiversDetached  int64 // consumer links detached (detach-receivers)
	ConnectionsDropped int64 // connections reset (drop-connections)
}

func (fs *faultSet) stats() FaultStats {
	fs.mu.Lock()
	injected := make(map[FaultKind]int64, len(fs.injected))
	for k, v := range fs.injected {
		injected[k] = v
	}
	hits := make(map[FaultKind]int64, len(FaultKinds))
	for _, k := range FaultKinds {
		if h := fs.hits[k]; h != nil {
			hits[k] = h.Load()
		} else {
			hits[k] = 0
		}
	}
	fs.mu.Unlock()
	return FaultStats{Injected: injected, Hits: hits, SendsRejected: fs.rejected.Load(),
		ReceiversDetached: fs.detached.Load(), ConnectionsDropped: fs.dropped.Load()}
}

// busyFor is the error a send to p gets from a server-busy fault, or nil.
func (fs *faultSet) busyFor(p *partition) *amqp.Error {
	v := fs.view.Load()
	if v == nil || len(v.busy) == 0 {
		return nil
	}
	af := hitFor(v.busy, p)
	if af == nil {
		return nil
	}
	fs.rejected.Add(1)
	return amqpErr("com.microsoft:server-busy", fmt.Sprintf(
		"The request was terminated because the event hub '%s' is being throttled: a server-busy fault injected into the emulator (fault %d). Please wait and try again.",
		p.hub.cfg.Name, af.id))
}

// hitFor is the first of faults in effect that covers p, counted as a
// hit; nil when none does.
func hitFor(faults []*activeFault, p *partition) *activeFault {
	now := time.Now()
	for _, af := range faults {
		if af.live(now) && af.matches(p) {
			af.hit(1)
			return af
		}
	}
	return nil
}

// frameDelay is how long a write waits under delay-frames faults: the
// longest of those in effect, or 0.
func (fs *faultSet) frameDelay() time.Duration {
	v := fs.view.Load()
	if v == nil || len(v.delay) == 0 {
		return 0
	}
	now := time.Now()
	var longest *activeFault
	for _, af := range v.delay {
		if af.live(now) && (longest == nil || af.f.Delay > longest.f.Delay) {
			longest = af
		}
	}
	if longest == nil {
		return 0
	}
	longest.hit(1)
	return longest.f.Delay
}

// holdBack reports whether p is paused, for a receiver that has credit
// and events to deliver: nil when it is not, else a channel closed when
// the faults change (the pause may be over then).
func (fs *faultSet) holdBack(p *partition) <-chan struct{} {
	v := fs.view.Load()
	if v == nil || len(v.pause) == 0 {
		return nil
	}
	if hitFor(v.pause, p) == nil {
		return nil
	}
	return v.changed
}

// delayWriteLocked waits out a delay-frames fault before a write; wmu held. A
// connection that is shutting down writes at once.
func (c *conn) delayWriteLocked() {
	d := c.srv.faults.frameDelay()
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.done:
	}
}

// detachReceivers detaches the consumer links af covers and returns how
// many. As a takeover does, it only marks each link (and takes it off its
// partition); the link's own goroutine sends the detach.
func (s *Server) detachReceivers(af *activeFault) int {
	var links []*consumer
	for _, h := range s.hubList {
		if af.hub != nil && h != af.hub {
			continue
		}
		for _, p := range h.partitions {
			if af.part != nil && p != af.part {
				continue
			}
			p.mu.Lock()
			for _, group := range p.readers {
				for cl := range group {
					links = append(links, cl)
					delete(group, cl)
				}
			}
			p.mu.Unlock()
		}
	}
	for _, cl := range links {
		cl.steal(amqpErr(amqp.Symbol(af.f.Condition), fmt.Sprintf(
			"The link to partition %s of '%s' was detached by a detach-receivers fault injected into the emulator (fault %d).", cl.part.id, cl.part.hub.cfg.Name, af.id)))
	}
	return len(links)
}

// dropConnections resets every open connection and returns how many.
func (s *Server) dropConnections() int {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		resetConn(c.nc)
	}
	return len(conns)
}

// resetConn closes nc so that the peer sees a reset, not an orderly close:
// on the TCP connection underneath (found through NetConn, as a TLS or
// WebSocket connection offers it) linger 0 makes the close send RST; the
// wrappers are closed after, so whatever they would send goes nowhere. A
// connection with nothing TCP underneath is just closed.
func resetConn(nc net.Conn) {
	inner := nc
	for range 8 {
		u, ok := inner.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		next := u.NetConn()
		if next == nil || next == inner {
			break
		}
		inner = next
	}
	if l, ok := inner.(interface{ SetLinger(int) error }); ok {
		l.SetLinger(0)
	}
	inner.Close()
	if inner != nc {
		nc.Close()
	}
}
