// Package partlog is the append-only, durable log of one Event Hubs
// partition: sequence numbers from 0, offsets that are logical byte
// positions, enqueued times stamped at append, group-committed fsync,
// torn-tail recovery and time-based retention.
//
// On disk a partition is a directory of segment files named by the logical
// offset of their first record (20 digits, ".seg"). A segment starts with a
// 48-byte header — magic "EHSEGv01", the segment's base offset, the
// sequence number of its first record, the offset and enqueued time (Unix
// milliseconds) of the record before it (-1 and 0 for none), and a CRC-32C
// of those 40 bytes followed by 4 zero bytes — so that an empty segment
// still says where numbering stands once retention removed every older
// segment. A record is a 24-byte big-endian header — payload length
// (uint32), CRC-32C of the rest of the header and the payload (uint32),
// sequence number (int64), enqueued time in Unix milliseconds (int64) — and
// the payload. A record's offset is its segment's base plus its position
// after the segment header, so offsets need no storage and the offsets of
// consecutive records differ by their size. Segments written before headers
// existed (no magic) are read as they are: records from byte 0.
//
// Durability: a segment's header is synced before its directory entry; the
// old segment is synced before a new one is created; the directory is
// synced after every removal and rename. So after a crash only the last
// segment can hold records that were never acknowledged.
//
// Files:
//
//   - log.go: Log: Open, Append with its group commit, reads, bounds,
//     lookups by offset and time, retention (Expire), Close.
//   - recover.go: the on-disk format (record and segment headers), new
//     segments, and recovery at Open: torn tails cut, damage reported as a
//     CorruptError or, with Repair, moved aside.
//   - fs.go: the file system the log needs, an interface so that tests can
//     crash it.
//
// Lock order: syncMu before mu, expireMu before mu. mu guards the index
// and segment list; syncMu makes one goroutine at a time the one that
// fsyncs; expireMu keeps retention's file removals in order. Retention
// removes files outside mu, so readers never wait on it. Methods named
// …Locked need mu held (or, in Open, the log not yet shared).
package partlog
