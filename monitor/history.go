package monitor

// ring keeps the last n values added: the monitor's memory stays bounded
// however long the stream runs.
type ring[T any] struct {
	buf   []T
	next  int // where the next value goes once buf is full
	limit int
}

func newRing[T any](limit int) ring[T] { return ring[T]{limit: limit} }

func (r *ring[T]) add(v T) {
	if len(r.buf) < r.limit {
		r.buf = append(r.buf, v)
		return
	}
	r.buf[r.next] = v
	r.next = (r.next + 1) % r.limit
}

// all returns the values, oldest first, in a new slice.
func (r *ring[T]) all() []T {
	out := make([]T, 0, len(r.buf))
	out = append(out, r.buf[r.next:]...)
	return append(out, r.buf[:r.next]...)
}
