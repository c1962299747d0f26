package eventhubs

import (
	"errors"
	"fmt"
)

// ErrorCode is a stable code for a class of error; switch on it with
// errors.As and (*Error).Code. New codes may be added; existing ones keep
// their meaning.
type ErrorCode string

const (
	// CodeInvalidConnectionString: the connection string is malformed or
	// incomplete. The message names the key, never a key's or signature's value.
	CodeInvalidConnectionString ErrorCode = "invalid-connection-string"
	// CodeInvalidConf: a Conf value is out of range or inconsistent.
	CodeInvalidConf ErrorCode = "invalid-conf"
	// CodeInvalidRange: an OffsetRange is malformed (negative, until < from,
	// another hub) or names a partition the hub does not have.
	CodeInvalidRange ErrorCode = "invalid-range"
	// CodeRangeOutOfBounds: a range ends past the partition's last event + 1.
	CodeRangeOutOfBounds ErrorCode = "range-out-of-bounds"
	// CodeDataLoss: events a read wanted are gone (retention removed them)
	// and FailOnDataLoss is set.
	CodeDataLoss ErrorCode = "data-loss"
	// CodeNotFound: the hub, partition or consumer group does not exist.
	CodeNotFound ErrorCode = "not-found"
	// CodeUnauthorized: the service refused the credentials.
	CodeUnauthorized ErrorCode = "unauthorized"
	// CodeOwnershipLost: another reader with the same or a higher owner level
	// took the partition in this consumer group. ehstream does not take it
	// back, so two jobs never fight over a partition.
	CodeOwnershipLost ErrorCode = "ownership-lost"
	// CodeQuotaExceeded: the service refused for a quota of its own, such as
	// its five readers without an owner level per partition and consumer
	// group. Retrying does not help until a reader or link goes away.
	CodeQuotaExceeded ErrorCode = "quota-exceeded"
	// CodeCannotConnect: the endpoint cannot be reached as it is named: the
	// connection was refused, the host does not exist, or the server's
	// certificate is not trusted (signed by an unknown authority, for
	// another host, expired) or it does not speak TLS. Err holds the cause
	// (a *net.OpError for syscall.ECONNREFUSED, a *net.DNSError, a
	// *tls.CertificateVerificationError, ...). It is returned at the first
	// failure, without retries, while the process has not connected to the
	// endpoint yet; once it has, these causes are retried as a dropped
	// connection is (the service restarting), within OperationTimeout.
	CodeCannotConnect ErrorCode = "cannot-connect"
	// CodeTimeout: an operation made no progress within OperationTimeout,
	// retries included.
	CodeTimeout ErrorCode = "timeout"
	// CodeOwnershipStore: the ownership store of a stream sharing
	// partitions (SetOwnershipStore) failed, or where its positions are
	// read (OwnershipOptions.Positions); Err holds the store's error. A
	// running stream fails with it only once its claims have lapsed: see
	// SetOwnershipStore.
	CodeOwnershipStore ErrorCode = "ownership-store"
)

// Error is the error type of this package.
type Error struct {
	Code ErrorCode
	// Hub and PartitionID say where, when the error concerns one partition.
	Hub         string
	PartitionID string
	// Message says what went wrong, with the values involved (never secrets).
	Message string
	// Err is the underlying error, if any.
	Err error
}

func (e *Error) Error() string {
	s := "eventhubs: "
	if e.Hub != "" && e.PartitionID != "" {
		s += fmt.Sprintf("hub %q partition %s: ", e.Hub, e.PartitionID)
	} else if e.Hub != "" {
		s += fmt.Sprintf("hub %q: ", e.Hub)
	}
	s += e.Message
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s + " [" + string(e.Code) + "]"
}

func (e *Error) Unwrap() error { return e.Err }

// HasCode reports whether err is, or wraps, an *Error with the code.
func HasCode(err error, code ErrorCode) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// messageOf is what err says without this package's prefix, place and
// code: an *Error's Message, else err's text. Problems found in a value
// are listed this way under the name of the setting that holds it.
func messageOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

func errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}
