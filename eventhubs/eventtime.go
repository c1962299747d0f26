package eventhubs

import "time"

// EnqueuedTime is an event's event time by default: when the hub accepted
// it (UTC). Give it to streaming's event-time windows
// (streaming.ReduceByKeyAndEventTimeWindow and the others) as their
// eventTime, or give a time the sender put in the event's body or
// properties instead, when events may be sent long after they happened.
func EnqueuedTime(e *Event) time.Time { return e.EnqueuedTime }
