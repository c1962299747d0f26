package amqp

// SASL performative codes.
const (
	DescSASLMechanisms = 0x40
	DescSASLInit       = 0x41
	DescSASLChallenge  = 0x42
	DescSASLResponse   = 0x43
	DescSASLOutcome    = 0x44
)

// SASL outcome codes.
const (
	SASLOK   uint8 = 0
	SASLAuth uint8 = 1
	SASLSys  uint8 = 2
)

type SASLMechanisms struct{ Mechanisms []Symbol }

func (m *SASLMechanisms) AppendAMQP(b []byte) ([]byte, error) {
	return appendAllFields(b, DescSASLMechanisms, []any{m.Mechanisms})
}

type SASLInit struct {
	Mechanism       Symbol
	InitialResponse []byte
	Hostname        string
}

type SASLOutcome struct {
	Code uint8
}

func (o *SASLOutcome) AppendAMQP(b []byte) ([]byte, error) {
	// The second field, additional-data, is written as null: the service
	// writes both fields.
	return appendAllFields(b, DescSASLOutcome, []any{o.Code, nil})
}

// DecodeSASLInit decodes the body of a SASL frame that must be a sasl-init.
func DecodeSASLInit(body []byte) (*SASLInit, error) {
	d := NewDecoder(body)
	code, list, err := d.composite()
	if err != nil {
		return nil, err
	}
	if code != DescSASLInit {
		return nil, decodeErr("expected sasl-init, got descriptor 0x%02x", code)
	}
	f := &fields{what: "sasl-init", list: list}
	in := &SASLInit{Mechanism: f.symbol(0), InitialResponse: f.binary(1), Hostname: f.string(2)}
	if f.err != nil {
		return nil, f.err
	}
	return in, nil
}
