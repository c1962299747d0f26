package ownership_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/internal/entratest"
	"github.com/ehstream/ehstream/ownership"
)

// azuriteTLS is the CA and server certificate of the https Azurite.
var azuriteTLS = sync.OnceValues(func() (*emulator.SelfSigned, error) {
	dir, err := os.MkdirTemp("", "azurite-tls")
	if err != nil {
		return nil, err
	}
	return emulator.SelfSignedTLS(dir, nil)
})

// azuriteWithOAuth is an Azurite over https that checks bearer tokens
// (--oauth basic: their audience, issuer and lifetime, not their
// signature), and client options that trust its certificate.
func azuriteWithOAuth(t *testing.T) (endpoint string, client *container.ClientOptions) {
	t.Helper()
	ss, err := azuriteTLS()
	if err != nil {
		t.Fatal(err)
	}
	endpoint = azuriteOAuth.Start(t, "--oauth", "basic",
		"--cert", filepath.Join(ss.Dir, "server.pem"), "--key", filepath.Join(ss.Dir, "server-key.pem"))
	trusting := &http.Client{Transport: &http.Transport{TLSClientConfig: ss.ClientConfig("")}}
	return endpoint, &container.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: trusting}}
}

// TestBlobStoreWithCredential: the SDK's blob store signs in to a
// container URL with a TokenCredential (the path of Microsoft Entra ID)
// and claims ownership there; Azurite refuses a token for another
// audience and an expired one, so the token is what lets it in.
func TestBlobStoreWithCredential(t *testing.T) {
	endpoint, client := azuriteWithOAuth(t)
	iss, err := entratest.NewIssuer("storage-test")
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t, 60*time.Second)
	url := endpoint + "/devstoreaccount1/" + unique("t-")
	cred := &entratest.Credential{Issuer: iss, Principal: "app", Lifetime: time.Hour}
	store, err := ownership.NewBlobStoreWithCredential(ctx, url, cred, &ownership.BlobOptions{Client: client})
	if err != nil {
		t.Fatal(err)
	}
	claimed, err := store.ClaimOwnership(ctx, []azeventhubs.Ownership{{FullyQualifiedNamespace: "ns.servicebus.windows.net",
		EventHubName: "eh1", ConsumerGroup: "$default", PartitionID: "0", OwnerID: "replica-a"}}, nil)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("ClaimOwnership: %v %v", claimed, err)
	}
	listed, err := store.ListOwnership(ctx, "ns.servicebus.windows.net", "eh1", "$default", nil)
	if err != nil || len(listed) != 1 || listed[0].OwnerID != "replica-a" {
		t.Fatalf("ListOwnership: %+v %v", listed, err)
	}
	if len(cred.Minted()) == 0 {
		t.Fatal("the credential was never asked for a token")
	}

	for _, tc := range []struct {
		name string
		cred *entratest.Credential
		want string
	}{
		{"wrong audience", &entratest.Credential{Issuer: iss, Principal: "app", Lifetime: time.Hour, Audience: "https://eventhubs.azure.net/"}, "Invalid token audience"},
		{"expired", &entratest.Credential{Issuer: iss, Principal: "app", Expired: true}, "expired"},
	} {
		_, err := ownership.NewBlobStoreWithCredential(ctx, endpoint+"/devstoreaccount1/"+unique("t-"), tc.cred, &ownership.BlobOptions{Client: client})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want Azurite's refusal saying %q", tc.name, err, tc.want)
		}
	}
}

// TestBlobURLSpecs: a blob spec with a container URL needs https and a
// credential, and says so; its errors show no query.
func TestBlobURLSpecs(t *testing.T) {
	for _, tc := range []struct{ spec, want string }{
		{"blob:https://acct.blob.core.windows.net/ckpt", ""},
		{"blob:https://127.0.0.1:10000/devstoreaccount1/ckpt", ""},
		{"blob:http://127.0.0.1:10000/devstoreaccount1/ckpt", "a credential's token is sent over https only"},
		{"blob:https://acct.blob.core.windows.net/", "container \"\": want 3 to 63"},
		{"blob:https://acct.blob.core.windows.net/Bad_Name", "container \"Bad_Name\""},
		{"blob:https://acct.blob.core.windows.net/ckpt?sv=2024&sig=secret-signature", "with no query"},
	} {
		err := ownership.CheckSpec(tc.spec)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("CheckSpec(%s): %v, want %q", tc.spec, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret-signature") {
			t.Errorf("CheckSpec(%s) shows the signature: %v", tc.spec, err)
		}
	}
	if r := ownership.Redact("blob:https://acct.blob.core.windows.net/ckpt?sig=secret-signature"); strings.Contains(r, "secret") {
		t.Errorf("Redact: %s", r)
	}
	_, _, err := ownership.Open(context.Background(), "blob:https://acct.blob.core.windows.net/ckpt", "", nil)
	if err == nil || !strings.Contains(err.Error(), "a container URL signs in with a credential, and none was given") {
		t.Errorf("Open without a credential: %v", err)
	}
}
