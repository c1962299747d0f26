package emulator

// Faults on demand: the emulator refuses sends as busy, detaches
// receivers, drops connections, delays what it writes or pauses a
// partition, when a test (InjectFault), the admin API (FaultsHandler) or a
// file at start (ParseFaults) asks. Faults act inside the handlers, so
// everything else about a request stays real.
//
// Every kind runs on one mechanism, as kfake's faults do: a fault matches
// a target (a hub, a partition, or everything), has a budget (it fires
// once, when injected, or lasts its Duration or until removed) and an
// action, taken at injection or at a point in the handlers that consults
// the faults in effect (faultPoint). The kinds themselves are a table
// (faults_kinds.go); statistics are the hits the mechanism counts.
//
// Locks: faultSet.mu is taken by nothing but the fault functions here, and
// nothing else is taken under it. The hooks on the hot paths (busyFor,
// frameDelay, holdBack) take no lock: they read an immutable view that
// every change replaces.

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ehstream/ehstream/emulator/amqp"
)

// DefaultDetachCondition is the error a fault that takes a Condition
// (detach-receivers) sends when it names none.
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
	// Hub and Partition narrow the kinds that act on partitions (such as
	// server-busy, detach-receivers and pause-partition); "" means every
	// hub, or every partition of Hub. Hub names are not case-sensitive. A
	// Partition needs a Hub. Kinds that act on every connection take
	// neither.
	Hub, Partition string
	// Condition is the AMQP error a kind that detaches sends
	// (detach-receivers; DefaultDetachCondition when "").
	Condition string
	// Duration is how long a timed kind lasts (such as server-busy,
	// delay-frames and pause-partition), from injection; 0 means until
	// removed. A kind that fires once takes none.
	Duration time.Duration
	// Delay is how long a kind that delays holds each write (delay-frames;
	// above 0, at most MaxFaultDelay).
	Delay time.Duration
}

// faultKind is one kind of fault as the mechanism runs it: what it
// matches, its budget and its action (faultKindTable has every kind).
type faultKind struct {
	name FaultKind
	// narrows says whether Hub and Partition may narrow what the fault
	// matches; a kind that does not matches every connection, and takes
	// neither.
	narrows bool
	// point is where the kind acts. At atInjection its budget is one
	// firing, fire, which returns how many things it hit; anywhere else it
	// lasts its Duration (0: until removed), and acts each time the point
	// finds it in effect and matching.
	point faultPoint
	fire  func(s *Server, af *activeFault) int
	// refusal is the error a send gets from a fault acting at atSend.
	refusal func(af *activeFault, p *partition) *amqp.Error
	// takesDelay and takesCondition say which of a Fault's parameters the
	// kind takes; Validate checks their values alike for every kind.
	takesDelay, takesCondition bool
}

// faultPoint is where a kind of fault acts: once, when injected, or at a
// point in the handlers that consults the faults in effect.
type faultPoint uint8

const (
	atInjection faultPoint = iota
	atSend                 // a delivery to a partition, before it is stored: refused (producer.go)
	atDeliver              // a receiver with credit and events to deliver: held back (consumer.go)
	atWrite                // a connection's write of frames: delayed by Delay (conn.go)
	numFaultPoints
)

// kindNamed is the kind called name, or nil.
func kindNamed(name FaultKind) *faultKind {
	for _, k := range faultKindTable {
		if k.name == name {
			return k
		}
	}
	return nil
}

// Timed reports whether faults of the kind last (Duration, or until
// removed) rather than fire once.
func (k FaultKind) Timed() bool {
	kind := kindNamed(k)
	return kind != nil && kind.point != atInjection
}

// kindsList is "a, b or c": the kinds whose entries pass keep.
func kindsList(keep func(*faultKind) bool, last string) string {
	var names []string
	for _, k := range faultKindTable {
		if keep(k) {
			names = append(names, string(k.name))
		}
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + last + names[len(names)-1]
}

func allKinds(*faultKind) bool { return true }

// onlyKinds says which kinds take a parameter: "only delay-frames does".
func onlyKinds(takes func(*faultKind) bool) string {
	names := kindsList(takes, " and ")
	if strings.Contains(names, " and ") {
		return "only " + names + " do"
	}
	return "only " + names + " does"
}

// Validate explains the first thing wrong with f that needs no server to
// see: the kind, the fields the kind takes, negative durations. Whether
// the hub and partition exist is checked when the fault is injected.
func (f Fault) Validate() error {
	if f.Kind == "" {
		return fmt.Errorf("fault: kind is missing; want %s", kindsList(allKinds, " or "))
	}
	k := kindNamed(f.Kind)
	if k == nil {
		return fmt.Errorf("fault: kind %q is unknown; want %s", f.Kind, kindsList(allKinds, " or "))
	}
	if err := f.checkTaken(k); err != nil {
		return err
	}
	if err := f.checkTarget(k); err != nil {
		return err
	}
	return f.checkValues(k)
}

func (f Fault) errorf(format string, args ...any) error {
	return fmt.Errorf("fault %s: "+format, append([]any{f.Kind}, args...)...)
}

// checkTaken refuses negative durations, and parameters the kind does not
// take.
func (f Fault) checkTaken(k *faultKind) error {
	switch {
	case f.Duration < 0:
		return f.errorf("duration %s is negative", f.Duration)
	case f.Delay < 0:
		return f.errorf("delay %s is negative", f.Delay)
	case f.Duration > 0 && k.point == atInjection:
		return f.errorf("fires once, so it takes no duration (got %s)", f.Duration)
	case f.Delay > 0 && !k.takesDelay:
		return f.errorf("takes no delay (got %s); %s", f.Delay, onlyKinds(func(k *faultKind) bool { return k.takesDelay }))
	case f.Condition != "" && !k.takesCondition:
		return f.errorf("takes no condition (got %q); %s", f.Condition, onlyKinds(func(k *faultKind) bool { return k.takesCondition }))
	}
	return nil
}

// checkTarget refuses a hub or partition the kind cannot be narrowed to.
func (f Fault) checkTarget(k *faultKind) error {
	switch {
	case !k.narrows && (f.Hub != "" || f.Partition != ""):
		return f.errorf("applies to every connection, so it takes no hub or partition (got hub %q, partition %q)", f.Hub, f.Partition)
	case k.narrows && f.Partition != "" && f.Hub == "":
		return f.errorf("partition %q needs a hub", f.Partition)
	}
	return nil
}

// checkValues checks the parameters the kind takes.
func (f Fault) checkValues(k *faultKind) error {
	if k.takesDelay {
		if f.Delay == 0 {
			return f.errorf("delay is missing; give one above 0, such as \"200ms\"")
		}
		if f.Delay > MaxFaultDelay {
			return f.errorf("delay %s is over the limit of %s", f.Delay, MaxFaultDelay)
		}
	}
	if c := f.Condition; c != "" && (len(c) > 256 || strings.ContainsFunc(c, func(r rune) bool { return r <= ' ' || r > '~' })) {
		return f.errorf("condition %q is not an AMQP error condition such as %q", c, DefaultDetachCondition)
	}
	return nil
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
	// Hits is how many times the fault acted so far; what one act is
	// depends on its kind (see the FaultKind constants).
	Hits int64
}

// faultSet is the server's faults. The zero value has none.
type faultSet struct {
	mu     sync.Mutex
	nextID int64
	active map[int64]*activeFault // the timed ones
	counts map[FaultKind]*kindCounts

	view atomic.Pointer[faultView] // nil: none active
}

// kindCounts is what the faults of one kind did since the server started.
type kindCounts struct {
	injected int64 // under faultSet.mu
	hits     atomic.Int64
}

// activeFault is a fault with its kind and targets resolved.
type activeFault struct {
	id            int64
	f             Fault
	kind          *faultKind
	hub           *hub       // nil: every hub
	part          *partition // nil: every partition of hub
	started, ends time.Time
	timer         *time.Timer
	hits          atomic.Int64
	kindHits      *atomic.Int64 // the kind's count
}

// hit counts n times the fault acted.
func (af *activeFault) hit(n int64) {
	af.hits.Add(n)
	af.kindHits.Add(n)
}

// matches reports whether the fault covers p; nil p is a point with no
// partition, which only faults that narrow nothing cover.
func (af *activeFault) matches(p *partition) bool {
	return (af.hub == nil || p != nil && af.hub == p.hub) && (af.part == nil || af.part == p)
}

func (af *activeFault) live(now time.Time) bool { return af.ends.IsZero() || now.Before(af.ends) }

func (af *activeFault) snapshot() ActiveFault {
	return ActiveFault{ID: af.id, Fault: af.f, Started: af.started, Ends: af.ends, Hits: af.hits.Load()}
}

// faultView is the timed faults in effect by the point where they act,
// in the order they are tried; it is replaced whole on every change.
type faultView struct {
	at      [numFaultPoints][]*activeFault
	changed chan struct{} // closed when the view is replaced
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
	af := &activeFault{f: f, kind: kindNamed(f.Kind)}
	if af.kind.takesCondition && f.Condition == "" {
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

// inject takes af: a timed fault goes into effect, a one-shot one fires.
func (s *Server) inject(af *activeFault) ActiveFault {
	s.faults.add(af, func(id int64) { s.removeFault(id, "ended") })
	if af.kind.point == atInjection {
		af.hit(int64(af.kind.fire(s, af)))
	}
	out := af.snapshot()
	s.log.Warn("fault injected", injectedLogArgs(af, out.Hits)...)
	return out
}

// add numbers af and counts it; a timed fault goes into effect, and ends
// after its Duration through end.
func (fs *faultSet) add(af *activeFault, end func(id int64)) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.nextID++
	af.id = fs.nextID
	af.started = time.Now()
	if fs.counts == nil {
		fs.counts = map[FaultKind]*kindCounts{}
	}
	counts := fs.counts[af.kind.name]
	if counts == nil {
		counts = new(kindCounts)
		fs.counts[af.kind.name] = counts
	}
	counts.injected++
	af.kindHits = &counts.hits
	if af.kind.point == atInjection {
		af.ends = af.started
		return
	}
	if af.f.Duration > 0 {
		af.ends = af.started.Add(af.f.Duration)
		id := af.id
		af.timer = time.AfterFunc(af.f.Duration, func() { end(id) })
	}
	if fs.active == nil {
		fs.active = map[int64]*activeFault{}
	}
	fs.active[af.id] = af
	fs.rebuildLocked()
}

// injectedLogArgs describes an injected fault for the log: its fields
// that are set, and how long it lasts or, for one that fired, its hits.
func injectedLogArgs(af *activeFault, hits int64) []any {
	f := af.f
	args := []any{"id", af.id, "kind", f.Kind}
	if f.Hub != "" {
		args = append(args, "hub", f.Hub)
	}
	if f.Partition != "" {
		args = append(args, "partition", f.Partition)
	}
	if f.Condition != "" {
		args = append(args, "condition", f.Condition)
	}
	if f.Delay > 0 {
		args = append(args, "delay", f.Delay)
	}
	if af.kind.point == atInjection {
		return append(args, "hits", hits)
	}
	d := "until removed"
	if f.Duration > 0 {
		d = f.Duration.String()
	}
	return append(args, "duration", d)
}

// rebuildLocked publishes a new view of the active faults and wakes
// whoever waits on the old one; fs.mu held.
func (fs *faultSet) rebuildLocked() {
	var v *faultView
	if len(fs.active) > 0 {
		v = &faultView{changed: make(chan struct{})}
		ids := make([]int64, 0, len(fs.active))
		for id := range fs.active {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids { // the oldest is tried first
			af := fs.active[id]
			v.at[af.kind.point] = append(v.at[af.kind.point], af)
		}
		// A write waits out the longest delay in effect, within which the
		// others pass: it is tried first.
		slices.SortStableFunc(v.at[atWrite], func(a, b *activeFault) int { return cmp.Compare(b.f.Delay, a.f.Delay) })
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
	// Hits counts, by kind, the times faults acted (what one act is
	// depends on the kind: see the FaultKind constants). Every kind is
	// there, 0 included; Injected has only the kinds injected.
	Hits map[FaultKind]int64
	// The counts of three kinds' hits under the names they had before
	// Hits, kept for the programs that read them.
	SendsRejected      int64 // Hits[FaultServerBusy]: deliveries refused as busy
	ReceiversDetached  int64 // Hits[FaultDetachReceivers]: consumer links detached
	ConnectionsDropped int64 // Hits[FaultDropConnections]: connections reset
}

func (fs *faultSet) stats() FaultStats {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	st := FaultStats{Injected: make(map[FaultKind]int64, len(fs.counts)), Hits: make(map[FaultKind]int64, len(faultKindTable))}
	for _, k := range faultKindTable {
		st.Hits[k.name] = 0
		if c := fs.counts[k.name]; c != nil {
			st.Injected[k.name] = c.injected
			st.Hits[k.name] = c.hits.Load()
		}
	}
	st.SendsRejected = st.Hits[FaultServerBusy]
	st.ReceiversDetached = st.Hits[FaultDetachReceivers]
	st.ConnectionsDropped = st.Hits[FaultDropConnections]
	return st
}

// act finds the timed fault that acts at point on p (nil: the point has no
// partition) and counts its hit: the first in effect that matches, in the
// order of the view it returns with it. Nil when none does.
func (fs *faultSet) act(point faultPoint, p *partition) (*activeFault, *faultView) {
	v := fs.view.Load()
	if v == nil || len(v.at[point]) == 0 {
		return nil, nil
	}
	now := time.Now()
	for _, af := range v.at[point] {
		if af.live(now) && af.matches(p) {
			af.hit(1)
			return af, v
		}
	}
	return nil, nil
}

// busyFor is the error a send to p gets from a fault, or nil.
func (fs *faultSet) busyFor(p *partition) *amqp.Error {
	af, _ := fs.act(atSend, p)
	if af == nil {
		return nil
	}
	return af.kind.refusal(af, p)
}

// holdBack reports whether p is paused, for a receiver that has credit
// and events to deliver: nil when it is not, else a channel closed when
// the faults change (the pause may be over then).
func (fs *faultSet) holdBack(p *partition) <-chan struct{} {
	af, v := fs.act(atDeliver, p)
	if af == nil {
		return nil
	}
	return v.changed
}

// frameDelay is how long a write waits under the faults in effect, or 0.
func (fs *faultSet) frameDelay() time.Duration {
	af, _ := fs.act(atWrite, nil)
	if af == nil {
		return 0
	}
	return af.f.Delay
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
