package streaming

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// stateful is a step that keeps state across batches: a window, or
// MapWithState. A batch ticks it (the batch's changes, undoable), and when
// every output is done commits it (the changes stay, and are its delta) or
// aborts it (the changes are undone: the batch is planned again).
type stateful interface {
	name() string
	setName(string)
	// kind is what a checkpoint's state must have been made by: the step,
	// its types and the parameters its state depends on.
	kind() string
	// slide is, for a window, how many batches apart its stream has data,
	// and so how many batches' ranges its outputs commit; 0 otherwise.
	slide() int64
	tick(ctx context.Context, br *batchRun) error
	commit()
	abort()
	// encode returns the whole state, or the last commit's changes.
	encode(full bool) ([]byte, error)
	// restore loads a whole state, or applies changes to it, in the order
	// the checkpoint's files were written.
	restore(b []byte, full bool) error
	// size is how many entries (keys, pairs) the state holds.
	size() int
}

// StateStore is a CheckpointStore that also keeps the state of stateful
// streams (windows, MapWithState) in files beside the checkpoint. A
// batch's state file is written before the checkpoint that marks the batch
// done, and the checkpoint names the files it needs, so that the one
// atomic checkpoint write commits both. DirStore is a StateStore.
type StateStore interface {
	CheckpointStore
	// WriteState stores a state file durably under name; a name is written
	// once.
	WriteState(ctx context.Context, name string, b []byte) error
	// ReadState returns the state file name.
	ReadState(ctx context.Context, name string) ([]byte, error)
	// RemoveState removes the state files older than the oldest of keep
	// that keep does not name: those no checkpoint needs any longer.
	RemoveState(ctx context.Context, keep []string) error
}

// StateCheckpoint is the state part of a Checkpoint: the state after the
// last batch marked done.
type StateCheckpoint struct {
	// Files hold a whole state, then the changes of each batch after it.
	Files []string `json:"files"`
	// Streams are the stateful streams whose state the files hold.
	Streams []StreamState `json:"streams"`
	// FullBytes and DeltaBytes are the sizes of the whole state and of the
	// changes after it: a new whole state is written once the changes
	// outweigh the last one.
	FullBytes  int64 `json:"fullBytes"`
	DeltaBytes int64 `json:"deltaBytes"`
	// Entries is how many entries the whole state held: once half of them
	// are gone (timed out, say) a new whole state is written, so that the
	// checkpoint shrinks with the state.
	Entries int64 `json:"entries"`
}

// StreamState names a stateful stream and what its state is made of.
type StreamState struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Slide is a window's slide, in batches; 0 for other streams, and in
	// checkpoints written before it was recorded.
	Slide int64 `json:"slide,omitempty"`
}

// maxDeltas bounds how many change files a restore reads.
const maxDeltas = 64

// stateFile is the content of one state file.
type stateFile struct {
	Batch    int64
	Full     bool
	Sections []stateSection
}

type stateSection struct {
	Name string
	Data []byte
}

// rangesSection holds a graph's recent ranges, which outputs of windows
// join; the graph's input number follows.
const rangesSection = "(ranges of input "

// hasState reports whether a pipeline of the Context keeps state.
func (c *Context) hasState() bool {
	return slices.ContainsFunc(c.graphs, (*graph).checkpointsState)
}

// checkpointsState reports whether the graph keeps state in the
// checkpoint: it has stateful steps that do not keep it per partition.
func (g *graph) checkpointsState() bool { return len(g.stateful) > 0 && g.partStore == nil }

// stateNames gives the stateful steps names unique in the Context, and
// checks names given with Named.
func (c *Context) stateNames() (map[string]stateful, error) {
	byName := map[string]stateful{}
	for i, g := range c.graphs {
		for _, st := range g.stateful {
			name := st.name()
			if !g.checkpointsState() {
				// Named, and so unique, but kept per partition.
				continue
			}
			if len(c.graphs) > 1 && !strings.HasPrefix(name, "input ") {
				name = "input " + strconv.Itoa(i) + ": " + name
				st.setName(name)
			}
			if _, dup := byName[name]; dup {
				return nil, fmt.Errorf("streaming: two stateful streams are named %q; name one otherwise (Named)", name)
			}
			byName[name] = st
		}
	}
	return byName, nil
}

// restoreState loads the state of the checkpoint's last completed batch
// into the pipelines, after checking that the checkpoint's streams are
// this program's.
func (c *Context) restoreState(ctx context.Context, store CheckpointStore, ck *Checkpoint) error {
	for _, g := range c.graphs {
		if len(g.err) > 0 {
			return errors.Join(g.err...)
		}
		if err := g.usePartitionState(); err != nil {
			return err
		}
	}
	if !c.hasState() {
		if ck != nil && ck.State != nil {
			c.log.Warn("streaming: the checkpoint holds the state of stateful streams that this program no longer has; it is dropped", "streams", len(ck.State.Streams))
		}
		return nil
	}
	byName, err := c.stateNames()
	if err != nil {
		return err
	}
	if c.stateStore, err = stateStoreOf(store, byName); err != nil {
		return err
	}
	if ck == nil || ck.State == nil {
		return nil
	}
	st := ck.State
	if err := c.sameStreams(st.Streams, byName); err != nil {
		return err
	}
	for i, name := range st.Files {
		if err := c.restoreFile(ctx, name, i == 0, byName); err != nil {
			return err
		}
	}
	c.state = st
	c.log.Info("streaming: restored the state of the stateful streams", "batch", ck.Batch, "files", len(st.Files), "streams", len(st.Streams))
	return nil
}

// stateStoreOf is store as the StateStore that the stateful streams
// byName need.
func stateStoreOf(store CheckpointStore, byName map[string]stateful) (StateStore, error) {
	if ss, ok := store.(StateStore); ok {
		return ss, nil
	}
	what := "no checkpoint store"
	if store != nil {
		what = fmt.Sprintf("checkpoint store %T, which keeps no state", store)
	}
	return nil, fmt.Errorf("streaming: the pipeline keeps state (%s), which must survive a restart, but the Context has %s; give it one (Context.Checkpoint(streaming.NewDirStore(dir)))",
		strings.Join(slices.Sorted(maps.Keys(byName)), ", "), what)
}

// sameStreams checks that the streams whose state a checkpoint holds can
// go on as this program's streams of their names; the state of a stream
// the program lacks is dropped.
func (c *Context) sameStreams(stored []StreamState, byName map[string]stateful) error {
	for _, s := range stored {
		own, ok := byName[s.Name]
		if !ok {
			c.log.Warn("streaming: the checkpoint holds the state of a stream this program lacks; it is dropped", "stream", s.Name, "kind", s.Kind)
			continue
		}
		if err := c.sameStream(s, own); err != nil {
			return err
		}
	}
	return nil
}

// restoreFile loads the state file name, the first of the checkpoint's or
// one after it, into the stateful streams byName and the pipelines'
// recent ranges.
func (c *Context) restoreFile(ctx context.Context, name string, first bool, byName map[string]stateful) error {
	b, err := c.stateStore.ReadState(ctx, name)
	if err != nil {
		return fmt.Errorf("streaming: reading state file %s: %w", name, err)
	}
	var f stateFile
	if err := fromGob(b, &f); err != nil {
		return &CheckpointError{Message: fmt.Sprintf("state file %s: %v", name, err)}
	}
	if first && !f.Full {
		return &CheckpointError{Message: fmt.Sprintf("state file %s holds changes, but is the first of the checkpoint's files", name)}
	}
	for _, sec := range f.Sections {
		if n, ok := strings.CutPrefix(sec.Name, rangesSection); ok {
			if err := c.restoreRanges(name, n, sec); err != nil {
				return err
			}
			continue
		}
		own, ok := byName[sec.Name]
		if !ok {
			continue
		}
		if err := own.restore(sec.Data, f.Full); err != nil {
			return &CheckpointError{Message: fmt.Sprintf("stream %q: state file %s: %v", sec.Name, name, err)}
		}
	}
	return nil
}

// restoreRanges loads sec of state file name, the recent ranges of the
// pipeline that the rest of its name (n) numbers, when there is one.
func (c *Context) restoreRanges(name, n string, sec stateSection) error {
	gi, err := strconv.Atoi(strings.TrimSuffix(n, ")"))
	if err != nil || gi >= len(c.graphs) {
		return nil
	}
	var recent [][]Range
	if err := fromGob(sec.Data, &recent); err != nil {
		return &CheckpointError{Message: fmt.Sprintf("state file %s: %s: %v", name, sec.Name, err)}
	}
	c.graphs[gi].recent = recent
	return nil
}

// sameStream checks that own, a stateful stream of this program, can go
// on from the checkpoint's state of the stream of its name.
func (c *Context) sameStream(stored StreamState, own stateful) error {
	if own.kind() != stored.Kind {
		return &CheckpointError{Message: fmt.Sprintf("stream %q: the checkpoint holds state of %s, but this program's stream is %s; "+
			"a changed type or window cannot read the stored state: keep them, give the changed stream a new name (Named) to start it empty, or use a new checkpoint store",
			stored.Name, stored.Kind, own.kind())}
	}
	// A window's outputs commit the ranges read since its last slide: after
	// a changed slide they would get ranges with a gap or an overlap, which
	// neither a new name nor the state can mend. A checkpoint written before
	// slides were recorded has none, and is taken to have this one: refusing
	// it would strand every windowed job's checkpoint at the upgrade.
	if stored.Slide != 0 && stored.Slide != own.slide() {
		return &CheckpointError{Message: fmt.Sprintf("stream %q: the checkpoint's window slides every %d batches (%s at the batch interval %s), this program's every %d (%s); "+
			"its outputs commit the ranges read since its last slide, which a changed slide would leave with a gap or an overlap: "+
			"keep the slide %s, or use a new checkpoint store and start the stream from the positions its output stored",
			stored.Name, stored.Slide, time.Duration(stored.Slide)*c.interval, c.interval, own.slide(), time.Duration(own.slide())*c.interval,
			time.Duration(stored.Slide)*c.interval)}
	}
	return nil
}

// commitState makes the batch's state changes permanent and writes them,
// or the whole state, to a state file; it returns the state part of the
// checkpoint that marks the batch done.
func (c *Context) commitState(ctx context.Context, number int64) (*StateCheckpoint, error) {
	var entries int64
	for _, g := range c.graphs {
		if !g.checkpointsState() {
			continue
		}
		if !g.fed {
			return nil, fmt.Errorf("streaming: input %s did not feed its DStream source in batch %d, whose stateful streams must see every batch", g.input.Identity(), number)
		}
		for _, st := range g.stateful {
			st.commit()
			entries += int64(st.size())
		}
	}
	prev := c.state
	full := prev == nil || len(prev.Files) > maxDeltas || prev.DeltaBytes >= prev.FullBytes || 2*entries < prev.Entries
	f := stateFile{Batch: number, Full: full}
	next := &StateCheckpoint{}
	for i, g := range c.graphs {
		if !g.checkpointsState() {
			continue
		}
		for _, st := range g.stateful {
			b, err := st.encode(full)
			if err != nil {
				return nil, fmt.Errorf("streaming: saving the state of stream %q: %w", st.name(), err)
			}
			f.Sections = append(f.Sections, stateSection{Name: st.name(), Data: b})
			next.Streams = append(next.Streams, StreamState{Name: st.name(), Kind: st.kind(), Slide: st.slide()})
		}
		if g.maxEvery > 1 {
			recent := append(slices.Clone(g.recent), g.cur.ranges)
			recent = recent[max(len(recent)-int(g.maxEvery-1), 0):]
			b, err := gobBytes(recent)
			if err != nil {
				return nil, err
			}
			f.Sections = append(f.Sections, stateSection{Name: rangesSection + strconv.Itoa(i) + ")", Data: b})
		}
	}
	file, err := gobBytes(&f)
	if err != nil {
		return nil, fmt.Errorf("streaming: saving the state of batch %d: %w", number, err)
	}
	kind := "delta"
	if full {
		kind = "full"
	}
	name := fmt.Sprintf("state-%012d-%s.%s", number, c.instance, kind)
	if err := c.stateStore.WriteState(ctx, name, file); err != nil {
		return nil, fmt.Errorf("streaming: saving the state of batch %d: %w", number, err)
	}
	size := int64(len(file))
	if full {
		next.Files, next.FullBytes, next.Entries = []string{name}, size, entries
	} else {
		next.Files = append(slices.Clone(prev.Files), name)
		next.FullBytes, next.DeltaBytes, next.Entries = prev.FullBytes, prev.DeltaBytes+size, prev.Entries
	}
	return next, nil
}

// stateSaved takes the state part of a saved done checkpoint as the
// state the next checkpoints name, and removes the files none needs.
func (c *Context) stateSaved(ctx context.Context, st *StateCheckpoint) {
	old := c.state
	c.state = st
	if old != nil && old.Files[0] != st.Files[0] {
		if err := c.stateStore.RemoveState(ctx, st.Files); err != nil {
			c.log.Warn("streaming: removing state files no checkpoint needs", "err", err)
		}
	}
}

// gobBytes and fromGob encode state sections.
func gobBytes(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func fromGob(b []byte, v any) error {
	return gob.NewDecoder(bytes.NewReader(b)).Decode(v)
}
