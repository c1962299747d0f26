package monitor

import (
	"fmt"
	"math"
	"slices"
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
	// Outputs is the time each output of a completed batch ran
	// (streaming.BatchInfo.Outputs); none for a failed or abandoned run.
	Outputs []Output `json:"outputs,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// Output is the time one output of a batch ran, all its attempts together.
type Output struct {
	// Name says which: "output 1" for an input's first (ForeachRDD's, in
	// the order registered), "ForeachBatch 1" for its DStream pipeline's
	// first; with several inputs, "input 2 output 1".
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// Range is what a batch read of one partition.
type Range struct {
	Hub       string `json:"hub"` // the input's name of the stream
	Partition string `json:"partition"`
	From      int64  `json:"from"`
	Until     int64  `json:"until"`
	ResetFrom int64  `json:"resetFrom,omitempty"`
	Skipped   int64  `json:"skipped,omitempty"`
	// Events is what the range read: Until - From - Skipped.
	Events int64 `json:"events"`
	Lag    int64 `json:"lag"`
}

// Partition is where one partition stands: as of the last completed batch
// that planned it or, with a watch of the whole job (JobObserved), the
// last view, whichever is later; with a watch every partition of the hub
// has one, whichever replica reads it.
type Partition struct {
	Hub       string `json:"hub"`
	Partition string `json:"partition"`
	// Reading says the last completed batch planned the partition: this
	// stream (this replica, when replicas share) reads it.
	Reading bool `json:"reading"`
	// Owner is, when replicas share the partitions, the owner ID of the
	// partition's claim: of a live owner, or with Live false of the last
	// one ("" when it was relinquished or never claimed). Without a watch
	// it is Options.Owner while this replica reads the partition. Note
	// says why this replica gained or lost it.
	Owner string `json:"owner,omitempty"`
	Note  string `json:"note,omitempty"`
	// Live says a replica reads the partition, as far as the ownership
	// records tell: its owner renewed the claim within 1.5 update
	// intervals (balance.LateAfter). Always true for a stream that reads
	// every partition.
	Live bool `json:"live"`
	// Renewed is when the claim was last written: claimed, renewed, or
	// relinquished. NoOwnerSince is, while Live is false, when the
	// partition last had a live owner (the claim's last renewal, or its
	// relinquishment), or when the monitor first saw it never claimed.
	Renewed      *time.Time `json:"renewed,omitempty"`
	NoOwnerSince *time.Time `json:"noOwnerSince,omitempty"`
	Next         int64      `json:"next"` // the job's next sequence number to read
	End          int64      `json:"end"`  // the partition's last sequence number + 1
	Lag          int64      `json:"lag"`  // End - Next
	// OldestUnread is when the oldest event the job has not read was
	// enqueued, and LagSeconds its age when served: 0 when none is unread.
	// Both are absent when unknown, UnreadError saying why.
	OldestUnread *time.Time `json:"oldestUnread,omitempty"`
	LagSeconds   *float64   `json:"lagSeconds,omitempty"`
	UnreadError  string     `json:"unreadError,omitempty"`
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
	// ProcessingTime and SchedulingDelay sum up the completed batches kept.
	ProcessingTime  Summary `json:"processingTime"`
	SchedulingDelay Summary `json:"schedulingDelay"`
	// WholeJob is the whole job, when the monitor watches it (JobObserved).
	WholeJob *JobStatus `json:"wholeJob,omitempty"`
}

// JobStatus is the whole job as the last view of it showed it.
type JobStatus struct {
	Viewed time.Time `json:"viewed"` // when the last view began
	// Error says what the last view could not read.
	Error string `json:"error,omitempty"`
	// Shared says replicas share the partitions; the rest is theirs.
	Shared                bool    `json:"shared"`
	UpdateIntervalSeconds float64 `json:"updateIntervalSeconds,omitempty"`
	ExpirationSeconds     float64 `json:"expirationSeconds,omitempty"`
	// Unowned counts the partitions without a live owner (Partition.Live);
	// Orphaned names those that have had none for longer than the claims'
	// expiration: no replica took them over, as the protocol would have.
	Unowned  int      `json:"unowned"`
	Orphaned []string `json:"orphaned,omitempty"`
	// Renewals and FailedRenewals count this replica's ownership rounds.
	Renewals       int64 `json:"renewals"`
	FailedRenewals int64 `json:"failedRenewals"`
}

// Summary is the average and the 95th percentile of one figure of the
// completed batches kept, in seconds.
type Summary struct {
	Batches     int     `json:"batches"`
	MeanSeconds float64 `json:"meanSeconds"`
	P95Seconds  float64 `json:"p95Seconds"`
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
		out[i].Events = max(r.Until-r.From-out[i].Skipped, 0)
	}
	return out
}

// outputsOf names the outputs' times.
func outputsOf(ts []streaming.OutputTime) []Output {
	several := slices.ContainsFunc(ts, func(t streaming.OutputTime) bool { return t.Input > 0 })
	out := make([]Output, len(ts))
	for i, t := range ts {
		name := fmt.Sprintf("output %d", t.Output+1)
		if t.Typed {
			name = fmt.Sprintf("ForeachBatch %d", t.Output+1)
		}
		if several {
			name = fmt.Sprintf("input %d %s", t.Input+1, name)
		}
		out[i] = Output{Name: name, Seconds: t.Took.Seconds()}
	}
	return out
}

// summarize is the average and the 95th percentile (nearest rank) of vs.
func summarize(vs []float64) Summary {
	if len(vs) == 0 {
		return Summary{}
	}
	vs = slices.Clone(vs)
	slices.Sort(vs)
	var sum float64
	for _, v := range vs {
		sum += v
	}
	rank := int(math.Ceil(0.95*float64(len(vs)))) - 1
	return Summary{Batches: len(vs), MeanSeconds: sum / float64(len(vs)), P95Seconds: vs[rank]}
}
