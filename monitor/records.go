package monitor

import (
	"time"

	"github.com/ehstream/ehstream/streaming"
)

// Batch is one batch as the page and /api/batches show it: a completed
// batch, or a failed or abandoned run of one.
type Batch struct {
	Number  int64     `json:"number"`
	Outcome string    `json:"outcome"` // completed, failed or abandoned
	Time    time.Time `json:"time"`    // when it was due
	End     time.Time `json:"end"`     // when it completed or failed
	Replay  bool      `json:"replay,omitempty"`
	// Attempt counts a batch's failures; Retrying says it runs again.
	Attempt  int   `json:"attempt,omitempty"`
	Retrying bool  `json:"retrying,omitempty"`
	Events   int64 `json:"events"`
	Skipped  int64 `json:"skipped"`
	Lag      int64 `json:"lag"` // total, when the batch was planned
	// InputRate is Events over the batch interval, in events per second,
	// as Spark's Streaming tab shows it.
	InputRate float64 `json:"inputRate"`
	// RateLimit is the rate backpressure allowed the batch, in events per
	// second (streaming.BatchInfo.Rate); 0 when nothing limited it.
	RateLimit              int64   `json:"rateLimit,omitempty"`
	SchedulingDelaySeconds float64 `json:"schedulingDelaySeconds"`
	ProcessingTimeSeconds  float64 `json:"processingTimeSeconds"`
	Ranges                 []Range `json:"ranges"`
	Error                  string  `json:"error,omitempty"`
}

// Range is what a batch read of one partition.
type Range struct {
	Hub       string `json:"hub"` // the input's name of the stream
	Partition string `json:"partition"`
	From      int64  `json:"from"`
	Until     int64  `json:"until"`
	ResetFrom int64  `json:"resetFrom,omitempty"`
	Skipped   int64  `json:"skipped,omitempty"`
	Lag       int64  `json:"lag"`
}

// Partition is where one partition stands, as of the last completed batch
// that planned it.
type Partition struct {
	Hub       string `json:"hub"`
	Partition string `json:"partition"`
	// Reading says the last completed batch planned the partition: this
	// stream (this replica, when replicas share) reads it.
	Reading bool `json:"reading"`
	// Owner is Options.Owner while this replica reads the partition; Note
	// says why it gained or lost it, when replicas share partitions.
	Owner string `json:"owner,omitempty"`
	Note  string `json:"note,omitempty"`
	Next  int64  `json:"next"` // the next sequence number to read
	End   int64  `json:"end"`  // the partition's last sequence number + 1 when planned
	Lag   int64  `json:"lag"`  // End - Next
	// LastBatch is the last completed batch that read events of it.
	LastBatch int64 `json:"lastBatch,omitempty"`
	Events    int64 `json:"events"`  // read by completed batches since the monitor started
	Skipped   int64 `json:"skipped"` // lost to retention and skipped
}

// Status is the stream's state and totals (/api/status).
type Status struct {
	Job           string `json:"job,omitempty"`
	Hub           string `json:"hub,omitempty"`
	ConsumerGroup string `json:"consumerGroup,omitempty"`
	Sink          string `json:"sink,omitempty"`
	Owner         string `json:"owner,omitempty"`
	// State is the Context's: new, running, stopping, stopped or failed;
	// Error is why it failed.
	State                string           `json:"state"`
	Error                string           `json:"error,omitempty"`
	Started              time.Time        `json:"started"`
	UptimeSeconds        float64          `json:"uptimeSeconds"`
	BatchIntervalSeconds float64          `json:"batchIntervalSeconds"`
	Ready                bool             `json:"ready"`
	NotReady             string           `json:"notReady,omitempty"` // why not
	Batches              map[string]int64 `json:"batches"`            // by outcome
	Events               int64            `json:"events"`
	Skipped              int64            `json:"skipped"`
	Lag                  int64            `json:"lag"`        // total, at the last completed batch
	Partitions           int              `json:"partitions"` // read by this stream
	LastCompleted        *Batch           `json:"lastCompleted,omitempty"`
	LastFailure          *Batch           `json:"lastFailure,omitempty"`
}

// Outcomes of a batch, as Batch.Outcome and the metrics' outcome label
// name them.
const (
	Completed = "completed"
	Failed    = "failed"
	Abandoned = "abandoned"
)

func rangesOf(rs []streaming.Range, lag, skipped []int64) []Range {
	out := make([]Range, len(rs))
	for i, r := range rs {
		out[i] = Range{Hub: r.Source, Partition: r.Partition, From: r.From, Until: r.Until, ResetFrom: r.ResetFrom}
		if i < len(lag) {
			out[i].Lag = lag[i]
		}
		if i < len(skipped) {
			out[i].Skipped = skipped[i]
		}
	}
	return out
}
