package emulatorhttp

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

//go:embed static
var static embed.FS

// Options says what New serves beside the page, the JSON, the metrics and
// the health check.
type Options struct {
	// Faults serves the emulator's faults admin API (Server.FaultsHandler)
	// at /faults and /faults/{id}. It has no authentication: turn it on
	// only where no one else reaches the address (loopback).
	Faults bool
	// Gatherer is what /metrics serves; nil means NewRegistry(srv).
	Gatherer prometheus.Gatherer
}

// New returns a handler for the emulator's HTTP endpoints:
//
//	GET /              the status page (HTML; it refreshes itself from /api/hubs)
//	GET /static/...    its script, style sheet and icon
//	GET /api/hubs      the page's data as JSON: Server.Snapshot and the open connections and links
//	GET /metrics       Prometheus metrics (text format): NewCollector, and Go and process metrics
//	GET /health        {"status":"healthy"}
//	/faults, /faults/  the faults admin API, with Options.Faults
//
// Every request must name the emulator in its Host, and one that may
// change state must come from no web page or from the page's own origin,
// with a JSON body (Server.ProtectHTTP): a page of another site, or one
// that reaches the port through a name of its own (DNS rebinding), can
// neither read nor change anything. Serve it on loopback (CheckListen).
func New(srv *emulator.Server, opts Options) http.Handler {
	g := opts.Gatherer
	if g == nil {
		g = NewRegistry(srv)
	}
	files, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree has the directory
	}
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", page(files, "index.html"))
	mux.Handle("GET /favicon.ico", page(files, "favicon.svg"))
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(files)))
	mux.HandleFunc("GET /api/hubs", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(status(srv))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"healthy"}` + "\n"))
	})
	if opts.Faults {
		h := srv.FaultsHandler()
		mux.Handle("/faults", h)
		mux.Handle("/faults/", h)
	}
	return srv.ProtectHTTP(secure(mux))
}

// CheckListen refuses to serve New on an address other than loopback
// unless insecure: the endpoints have no authentication and no TLS, the
// page and /metrics show every hub, consumer group and reader, and the
// faults API changes what the emulator does. The same rule as the AMQP
// listeners' (Config.Insecure).
func CheckListen(addr string, insecure bool) error {
	if insecure || emulator.IsLoopbackAddr(addr) {
		return nil
	}
	return fmt.Errorf("refusing to serve HTTP on %s, which is not a loopback address: the status page, metrics and faults API have no authentication and no TLS, so anyone who reaches it could see every hub and reader and inject faults; listen on 127.0.0.1 or localhost, or accept the risk with --insecure", addr)
}

// page serves one embedded file, as the page or its icon.
func page(files fs.FS, name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, files, name)
	})
}

// secure keeps the page to its own files: no script, style or request
// goes anywhere else, and no other site frames it.
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}

// The JSON of /api/hubs: the emulator's Snapshot with names a script
// expects, durations as Go duration strings and seconds.

type statusJSON struct {
	Time        time.Time                   `json:"time"`
	Started     time.Time                   `json:"started"`
	Namespace   string                      `json:"namespace"`
	Addr        string                      `json:"addr"`
	Listeners   []listenerJSON              `json:"listeners"` // every address served, AMQP's first
	DataDir     string                      `json:"dataDir"`   // "" in memory
	Connections int64                       `json:"connections"`
	Links       map[emulator.LinkKind]int64 `json:"links"`
	Faults      []emulator.ActiveFault      `json:"faults"`
	Hubs        []hubJSON                   `json:"hubs"`
	Kafka       *kafkaJSON                  `json:"kafka"` // null when Kafka is not served
}

type kafkaJSON struct {
	Addr          string `json:"addr"`
	Connections   int64  `json:"connections"`
	Requests      int64  `json:"requests"`
	BytesReceived int64  `json:"bytesReceived"`
	BytesSent     int64  `json:"bytesSent"`
}

type listenerJSON struct {
	Transport string `json:"transport"` // amqp, amqps, ws, wss, kafka, kafka+tls
	Addr      string `json:"addr"`
}

type hubJSON struct {
	Name             string          `json:"name"`
	CreatedAt        time.Time       `json:"createdAt"`
	Retention        string          `json:"retention"` // "" keeps events forever
	RetentionSeconds float64         `json:"retentionSeconds"`
	MaxEventSize     int             `json:"maxEventSize"`
	Partitions       []partitionJSON `json:"partitions"`
	ConsumerGroups   []groupJSON     `json:"consumerGroups"`
}

type partitionJSON struct {
	ID                  string     `json:"id"`
	FirstSequenceNumber int64      `json:"firstSequenceNumber"`
	LastSequenceNumber  int64      `json:"lastSequenceNumber"`
	Empty               bool       `json:"empty"`
	LastOffset          int64      `json:"lastOffset"`
	LastEnqueuedTime    *time.Time `json:"lastEnqueuedTime"` // null when none was
	Bytes               int64      `json:"bytes"`
	EventsIn            int64      `json:"eventsIn"`
	BytesIn             int64      `json:"bytesIn"`
	EventsOut           int64      `json:"eventsOut"`
	BytesOut            int64      `json:"bytesOut"`
}

type groupJSON struct {
	Name    string       `json:"name"`
	Readers []readerJSON `json:"readers"`
}

type readerJSON struct {
	Partition          string    `json:"partition"`
	Name               string    `json:"name"`
	OwnerLevel         *int64    `json:"ownerLevel"` // null when it has none
	Client             string    `json:"client"`
	Attached           time.Time `json:"attached"`
	Delivered          int64     `json:"delivered"`
	NextSequenceNumber int64     `json:"nextSequenceNumber"`
}

func status(srv *emulator.Server) statusJSON {
	snap, st := srv.Snapshot(), srv.Stats()
	out := statusJSON{Time: snap.Time.UTC(), Started: snap.Started.UTC(), Namespace: snap.Namespace, Addr: snap.Addr, DataDir: snap.DataDir,
		Connections: st.OpenConnections, Links: st.OpenLinks, Faults: srv.Faults(), Hubs: make([]hubJSON, 0, len(snap.Hubs))}
	for _, l := range srv.Listeners() {
		out.Listeners = append(out.Listeners, listenerJSON{Transport: l.Transport, Addr: l.Addr})
	}
	for _, h := range snap.Hubs {
		hj := hubJSON{Name: h.Name, CreatedAt: h.CreatedAt.UTC(), RetentionSeconds: h.Retention.Seconds(), MaxEventSize: h.MaxEventSize,
			Partitions: make([]partitionJSON, 0, len(h.Partitions)), ConsumerGroups: make([]groupJSON, 0, len(h.ConsumerGroups))}
		if h.Retention > 0 {
			hj.Retention = h.Retention.String()
		}
		for _, p := range h.Partitions {
			pj := partitionJSON{ID: p.ID, FirstSequenceNumber: p.FirstSequenceNumber, LastSequenceNumber: p.LastSequenceNumber, Empty: p.Empty,
				LastOffset: p.LastOffset, Bytes: p.Bytes, EventsIn: p.EventsIn, BytesIn: p.BytesIn, EventsOut: p.EventsOut, BytesOut: p.BytesOut}
			if !p.LastEnqueuedTime.IsZero() {
				t := p.LastEnqueuedTime.UTC()
				pj.LastEnqueuedTime = &t
			}
			hj.Partitions = append(hj.Partitions, pj)
		}
		for _, g := range h.ConsumerGroups {
			gj := groupJSON{Name: g.Name, Readers: make([]readerJSON, 0, len(g.Readers))}
			for _, r := range g.Readers {
				gj.Readers = append(gj.Readers, readerJSON{Partition: r.Partition, Name: r.Name, OwnerLevel: r.OwnerLevel, Client: r.Client,
					Attached: r.Attached.UTC(), Delivered: r.Delivered, NextSequenceNumber: r.NextSequenceNumber})
			}
			hj.ConsumerGroups = append(hj.ConsumerGroups, gj)
		}
		out.Hubs = append(out.Hubs, hj)
	}
	if addr := srv.KafkaAddr(); addr != "" {
		k := st.Kafka
		out.Kafka = &kafkaJSON{Addr: addr, Connections: k.OpenConnections, BytesReceived: k.BytesReceived, BytesSent: k.BytesSent}
		for _, n := range k.Requests {
			out.Kafka.Requests += n
		}
	}
	return out
}
