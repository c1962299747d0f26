package emulator

import "github.com/ehstream/ehstream/emulator/amqp"

// Error conditions the official clients map to behaviour
// (eventhubs-amqp-contract.md section 7).
const (
	condNotFound        amqp.Symbol = "amqp:not-found"
	condNotAllowed      amqp.Symbol = "amqp:not-allowed"
	condNotImplemented  amqp.Symbol = "amqp:not-implemented"
	condDecodeError     amqp.Symbol = "amqp:decode-error"
	condFramingError    amqp.Symbol = "amqp:connection:framing-error"
	condInternalError   amqp.Symbol = "amqp:internal-error"
	condConnForced      amqp.Symbol = "amqp:connection:forced"
	condInvalidField    amqp.Symbol = "amqp:invalid-field"
	condUnattached      amqp.Symbol = "amqp:session:unattached-handle"
	condHandleInUse     amqp.Symbol = "amqp:session:handle-in-use"
	condWindowViolation amqp.Symbol = "amqp:session:window-violation"
	condTransferLimit   amqp.Symbol = "amqp:link:transfer-limit-exceeded"
	condStolen          amqp.Symbol = "amqp:link:stolen"
	condMessageTooLarge amqp.Symbol = "amqp:link:message-size-exceeded"
	condOutOfRange      amqp.Symbol = "com.microsoft:argument-out-of-range"
	condResourceLimit   amqp.Symbol = "amqp:resource-limit-exceeded"
	condServerBusy      amqp.Symbol = "com.microsoft:server-busy"
)

func amqpErr(cond amqp.Symbol, desc string) *amqp.Error {
	return &amqp.Error{Condition: cond, Description: desc}
}

func connForced(desc string) *amqp.Error { return amqpErr(condConnForced, desc) }
