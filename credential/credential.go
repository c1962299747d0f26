// Package credential builds the azcore.TokenCredential a program signs in
// to Azure with (Event Hubs, Blob Storage) from the name of a kind, as a
// command line or a configuration file gives it. Each kind is an
// azidentity credential, configured as azidentity configures it: from the
// environment variables its documentation names.
package credential

import (
	"fmt"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// Kind names a way to sign in to Microsoft Entra ID.
type Kind string

// The kinds. Each is the azidentity credential of the same name.
const (
	// Default is DefaultAzureCredential: it tries the environment,
	// workload identity, managed identity, the Azure CLI and the Azure
	// Developer CLI in turn, and uses the first that is there.
	Default Kind = "default"
	// Workload is WorkloadIdentityCredential, for Kubernetes' workload
	// identity: AZURE_TENANT_ID, AZURE_CLIENT_ID and
	// AZURE_FEDERATED_TOKEN_FILE, which its webhook sets.
	Workload Kind = "workload"
	// ManagedIdentity is ManagedIdentityCredential, for a VM, App
	// Service, Container Apps or AKS: the system-assigned identity, or
	// the user-assigned one whose client ID AZURE_CLIENT_ID holds.
	ManagedIdentity Kind = "managed-identity"
	// CLI is AzureCLICredential: whoever `az login` signed in.
	CLI Kind = "cli"
	// Env is EnvironmentCredential: a service principal from
	// AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or
	// AZURE_CLIENT_CERTIFICATE_PATH).
	Env Kind = "env"
)

// Kinds lists every kind, in the order of the documentation.
func Kinds() []Kind { return []Kind{Default, Workload, ManagedIdentity, CLI, Env} }

// kindNames is "default, workload, managed-identity, cli, env".
func kindNames() string {
	names := make([]string, len(Kinds()))
	for i, k := range Kinds() {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// ParseKind reads a kind's name, case-insensitively; the error names
// every kind.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds() {
		if strings.EqualFold(strings.TrimSpace(s), string(k)) {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown credential %.40q: want one of %s", s, kindNames())
}

// Options holds New's optional settings; nil means defaults.
type Options struct {
	// ClientOptions configure the credential's HTTP client (retries,
	// transport, cloud); zero means azidentity's defaults.
	ClientOptions azcore.ClientOptions
}

// New builds the credential of kind. It signs in to nothing yet: the
// first token is asked when a client connects, and a missing variable or
// login then fails that client. Errors of kinds that check their
// environment here (workload, env) name what is missing.
func New(kind Kind, opts *Options) (azcore.TokenCredential, error) {
	if opts == nil {
		opts = &Options{}
	}
	co := opts.ClientOptions
	var cred azcore.TokenCredential
	var err error
	switch kind {
	case Default:
		cred, err = azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{ClientOptions: co})
	case Workload:
		if missing := unset("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE"); missing != "" {
			// azidentity's own error names an option, not the variable.
			return nil, fmt.Errorf("credential workload: %s not set: the workload identity webhook sets them in a pod labelled azure.workload.identity/use=true whose service account names a client ID", missing)
		}
		cred, err = azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{ClientOptions: co})
	case ManagedIdentity:
		o := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: co}
		if id := os.Getenv("AZURE_CLIENT_ID"); id != "" {
			o.ID = azidentity.ClientID(id) // as DefaultAzureCredential reads it
		}
		cred, err = azidentity.NewManagedIdentityCredential(o)
	case CLI:
		cred, err = azidentity.NewAzureCLICredential(nil)
	case Env:
		cred, err = azidentity.NewEnvironmentCredential(&azidentity.EnvironmentCredentialOptions{ClientOptions: co})
	default:
		return nil, fmt.Errorf("credential: unknown kind %.40q: want one of %s", kind, kindNames())
	}
	if err != nil {
		return nil, fmt.Errorf("credential %s: %w", kind, err)
	}
	return cred, nil
}

// unset lists the variables among names that are empty, "" when none is.
func unset(names ...string) string {
	var missing []string
	for _, n := range names {
		if os.Getenv(n) == "" {
			missing = append(missing, n)
		}
	}
	switch len(missing) {
	case 0:
		return ""
	case 1:
		return missing[0] + " is"
	}
	return strings.Join(missing, ", ") + " are"
}
