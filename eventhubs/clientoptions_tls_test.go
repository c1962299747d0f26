package eventhubs

import (
	"crypto/x509"
	"encoding/pem"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
)

// SetTLSRootCAs trusts the PEM's certificates for the namespace's host,
// keeps the other client options, and refuses a file without a certificate.
func TestSetTLSRootCAs(t *testing.T) {
	srv := httptest.NewTLSServer(nil)
	defer srv.Close()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	c := NewConf(utPortal).SetClientOptions(&azeventhubs.ConsumerClientOptions{ApplicationID: "app"})
	if err := c.SetTLSRootCAs([]byte("not PEM")); !HasCode(err, CodeInvalidConf) || err.Error() == "" {
		t.Errorf("SetTLSRootCAs(not PEM) = %v, want a %s error", err, CodeInvalidConf)
	}
	if err := c.SetTLSRootCAs(caPEM); err != nil {
		t.Fatalf("SetTLSRootCAs = %v", err)
	}
	opts := c.ClientOptions()
	host, _ := c.NamespaceHost()
	if opts.ApplicationID != "app" || opts.TLSConfig == nil || opts.TLSConfig.ServerName != host || opts.TLSConfig.RootCAs == nil {
		t.Fatalf("client options = %+v, want app's, with the CA for %s", opts, host)
	}
	if _, err := srv.Certificate().Verify(x509.VerifyOptions{Roots: opts.TLSConfig.RootCAs, CurrentTime: time.Now()}); err != nil {
		t.Errorf("the PEM's certificate is not trusted: %v", err)
	}
}
