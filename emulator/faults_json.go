package emulator

// Faults as JSON: what the admin API (faults_http.go) and the --faults
// file hold.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
)

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

// LoadFaultsFile reads the faults of a JSON file as ParseFaults does, as
// `ehstream emulator --faults` does; errors name the file. The hubs and
// partitions they name are checked when Server.InjectFaults injects them.
func LoadFaultsFile(path string) ([]Fault, error) {
	return loadFile(path, "emulator: faults file", ParseFaults)
}
