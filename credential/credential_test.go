package credential_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/ehstream/ehstream/credential"
)

func TestParseKind(t *testing.T) {
	for in, want := range map[string]credential.Kind{"default": credential.Default, "Workload": credential.Workload,
		" managed-identity ": credential.ManagedIdentity, "cli": credential.CLI, "env": credential.Env} {
		if got, err := credential.ParseKind(in); got != want || err != nil {
			t.Errorf("ParseKind(%q) = %q, %v", in, got, err)
		}
	}
	_, err := credential.ParseKind("msi")
	if err == nil || err.Error() != `unknown credential "msi": want one of default, workload, managed-identity, cli, env` {
		t.Errorf("ParseKind(msi): %v", err)
	}
	if _, err := credential.New("msi", nil); err == nil || !strings.Contains(err.Error(), "want one of default, workload") {
		t.Errorf("New(msi): %v", err)
	}
}

// TestNewNamesWhatIsMissing: the kinds that read their settings from the
// environment say which variable is missing; with them, every kind is
// built without signing in.
func TestNewNamesWhatIsMissing(t *testing.T) {
	for _, v := range []string{"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_USERNAME"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	for kind, want := range map[credential.Kind]string{credential.Env: "AZURE_TENANT_ID", credential.Workload: "AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE are not set"} {
		_, err := credential.New(kind, nil)
		if err == nil || !strings.HasPrefix(err.Error(), "credential "+string(kind)+": ") || !strings.Contains(err.Error(), want) {
			t.Errorf("%s without its variables: %v, want it to name %s", kind, err, want)
		}
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("federated"), 0o600); err != nil {
		t.Fatal(err)
	}
	const secret = "client-secret-value-0123456789"
	t.Setenv("AZURE_TENANT_ID", "72f988bf-0000-4000-8000-00000000e11a")
	t.Setenv("AZURE_CLIENT_ID", "00000000-0000-4000-8000-000000000001")
	t.Setenv("AZURE_CLIENT_SECRET", secret)
	t.Setenv("AZURE_FEDERATED_TOKEN_FILE", tokenFile)
	for _, kind := range credential.Kinds() {
		cred, err := credential.New(kind, nil)
		if err != nil || cred == nil {
			t.Errorf("%s: %v", kind, err)
		}
		if strings.Contains(fmt.Sprintf("%v %+v", err, cred), secret) {
			t.Errorf("%s shows the secret", kind)
		}
	}
}

// TestCLIAsksAz: the cli kind asks `az account get-access-token` for
// Event Hubs' resource and hands on its token. This machine has no Azure
// CLI; a script stands in for it, printing what az prints.
func TestCLIAsksAz(t *testing.T) {
	dir := t.TempDir()
	expires := time.Now().Add(time.Hour).Unix()
	script := fmt.Sprintf("#!/bin/sh\necho \"$@\" > %s/args\necho '{\"accessToken\": \"the-token\", \"expires_on\": %d}'\n", dir, expires)
	if err := os.WriteFile(filepath.Join(dir, "az"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	cred, err := credential.New(credential.CLI, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://eventhubs.azure.net//.default"}})
	if err != nil || tok.Token != "the-token" || tok.ExpiresOn.Unix() != expires {
		t.Fatalf("GetToken: %+v %v", tok, err)
	}
	args, err := os.ReadFile(filepath.Join(dir, "args"))
	if err != nil || !strings.Contains(string(args), "account get-access-token -o json --resource https://eventhubs.azure.net/") {
		t.Errorf("az was run with %q (%v)", args, err)
	}
}
