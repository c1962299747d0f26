package ownership

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2/checkpoints"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/ehstream/ehstream/internal/dbspec"
)

// BlobOptions holds NewBlobStore's optional settings; nil means defaults.
type BlobOptions struct {
	// ReadOnly leaves a missing container missing: NewBlobStore then fails.
	// Otherwise it creates the container.
	ReadOnly bool
	// Client configures the container client (retries, transport); nil
	// means azblob's defaults.
	Client *container.ClientOptions
}

// NewBlobStore is the official SDK's checkpoints.BlobStore on the
// container containerName of the storage account connectionString names
// (AccountName and AccountKey, or a SharedAccessSignature; BlobEndpoint
// for Azurite), creating the container if it does not exist.
//
// It is the SDK's store, unchanged, so stock Processors of any language
// share it: blob names hold the namespace as the SDK gives it (with the
// port, for an emulator), and hub and consumer group names as spelled. Its
// checkpoints are its own, not ehstream's positions, and the SDK's
// ListCheckpoints fails on a checkpoint written without an Offset: a
// replica that checkpoints there sets both the sequence number and the
// offset of the last event it processed.
func NewBlobStore(ctx context.Context, connectionString, containerName string, opts *BlobOptions) (*checkpoints.BlobStore, error) {
	if opts == nil {
		opts = &BlobOptions{}
	}
	secrets := connStrSecrets(connectionString)
	if err := validContainer(containerName, secrets); err != nil {
		return nil, err
	}
	if err := checkAccountKey(connectionString); err != nil {
		return nil, err
	}
	cc, err := container.NewClientFromConnectionString(connectionString, containerName, opts.Client)
	if err != nil {
		return nil, fmt.Errorf("ownership: blob storage connection string %s: %w", redactConnStr(connectionString), dbspec.ScrubErr(err, secrets))
	}
	return openContainer(ctx, cc, containerName, redactConnStr(connectionString), secrets, opts.ReadOnly)
}

// NewBlobStoreWithCredential is NewBlobStore on the container at
// containerURL, https://ACCOUNT.blob.core.windows.net/CONTAINER (or an
// emulator's https://HOST:PORT/ACCOUNT/CONTAINER), signed in with cred,
// such as Microsoft Entra ID's through azidentity. Its principal needs the
// role Storage Blob Data Contributor on the container (Reader for
// ReadOnly). The URL must be https: a token never travels unencrypted.
func NewBlobStoreWithCredential(ctx context.Context, containerURL string, cred azcore.TokenCredential, opts *BlobOptions) (*checkpoints.BlobStore, error) {
	if opts == nil {
		opts = &BlobOptions{}
	}
	name, err := containerOfURL(containerURL)
	if err != nil {
		return nil, err
	}
	if cred == nil {
		return nil, fmt.Errorf("ownership: blob container %s: no credential to sign in with (a connection string's container is blob:CONNECTION-STRING/CONTAINER)", containerURL)
	}
	cc, err := container.NewClient(containerURL, cred, opts.Client)
	if err != nil {
		return nil, fmt.Errorf("ownership: blob container %s: %w", containerURL, err)
	}
	return openContainer(ctx, cc, name, containerURL, nil, opts.ReadOnly)
}

// openContainer creates the container unless readOnly, in which case it
// must exist, and returns the SDK's store on it. desc names the account
// in errors, which never show secrets.
func openContainer(ctx context.Context, cc *container.Client, name, desc string, secrets []string, readOnly bool) (*checkpoints.BlobStore, error) {
	if readOnly {
		if _, err := cc.GetProperties(ctx, nil); err != nil {
			if bloberror.HasCode(err, bloberror.ContainerNotFound) {
				return nil, fmt.Errorf("ownership: blob container %q does not exist in %s: no processor has claimed there", name, desc)
			}
			return nil, fmt.Errorf("ownership: blob container %q in %s: %w", name, desc, dbspec.ScrubErr(err, secrets))
		}
	} else if _, err := cc.Create(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return nil, fmt.Errorf("ownership: creating blob container %q in %s: %w", name, desc, dbspec.ScrubErr(err, secrets))
	}
	return checkpoints.NewBlobStore(cc, nil)
}

// containerOfURL is the container a container URL names, after checking
// that a token may be sent to it: https, and nothing that is not a path.
func containerOfURL(s string) (string, error) {
	u, err := url.Parse(s)
	const want = "want https://ACCOUNT.blob.core.windows.net/CONTAINER (or https://HOST:PORT/ACCOUNT/CONTAINER for an emulator)"
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		return "", fmt.Errorf("ownership: blob container URL %s: %s", redactURL(s), want)
	case u.Scheme == "http":
		return "", fmt.Errorf("ownership: blob container URL %s: a credential's token is sent over https only: %s "+
			"(Azurite serves https with --cert and --key, and checks tokens with --oauth basic)", redactURL(s), want)
	case u.Scheme != "https" || u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("ownership: blob container URL %s: %s, with no query (a SAS goes in a connection string: blob:CONNECTION-STRING/CONTAINER)", redactURL(s), want)
	}
	path := strings.Trim(u.Path, "/")
	name := path[strings.LastIndex(path, "/")+1:]
	if len(name) < 3 || len(name) > 63 || !containerName.MatchString(name) {
		return "", fmt.Errorf("ownership: blob container URL %s: container %.70q: want 3 to 63 lower-case letters, digits and single hyphens, "+
			"starting and ending with a letter or digit, after the URL's last '/'", redactURL(s), name)
	}
	return name, nil
}

// redactURL is a URL without what may carry a secret: user information,
// query and fragment.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(not a URL)"
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		u.User, u.RawQuery, u.Fragment = nil, "xxxxx", ""
	}
	return u.String()
}

// containerName is what Azure Storage takes: 3 to 63 lower-case letters,
// digits and hyphens, starting and ending with a letter or digit, no two
// hyphens in a row.
var containerName = regexp.MustCompile(`^[a-z0-9](?:-?[a-z0-9])+$`)

// validContainer refuses a name Azure Storage would. The name is shown
// unless it is part of one of secrets: the end of an account key cut at
// one of its '/', in a spec whose container was left out.
func validContainer(name string, secrets []string) error {
	if len(name) >= 3 && len(name) <= 63 && containerName.MatchString(name) {
		return nil
	}
	if name == "" {
		return errors.New("ownership: blob: no container: want blob:CONNECTION-STRING/CONTAINER, the container after the last '/'")
	}
	for _, s := range secrets {
		if strings.Contains(s, name) || strings.Contains(name, s) {
			return errors.New("ownership: blob: the last '/' is inside the connection string's account key or signature: " +
				"want blob:CONNECTION-STRING/CONTAINER, the container after the last '/'")
		}
	}
	return fmt.Errorf("ownership: blob container name %q: want 3 to 63 lower-case letters, digits and single hyphens, "+
		"starting and ending with a letter or digit, after the connection string's last '/'", name)
}

// secretKeys are the connection string keys whose values are never shown.
var secretKeys = []string{"AccountKey", "SharedAccessSignature", "SharedAccessKey"}

func isSecretKey(k string) bool {
	for _, s := range secretKeys {
		if strings.EqualFold(strings.TrimSpace(k), s) {
			return true
		}
	}
	return false
}

// connStrSecrets lists the secret values in a connection string.
func connStrSecrets(cs string) []string {
	var out []string
	for _, part := range strings.Split(cs, ";") {
		if k, v, ok := strings.Cut(part, "="); ok && isSecretKey(k) && v != "" {
			out = append(out, v)
		}
	}
	return out
}

// redactConnStr is a connection string with its secret values, and the
// query of any URL in it, replaced by "xxxxx".
func redactConnStr(cs string) string {
	parts := strings.Split(cs, ";")
	for i, part := range parts {
		k, v, ok := strings.Cut(part, "=")
		switch {
		case !ok:
		case isSecretKey(k):
			parts[i] = k + "=xxxxx"
		case strings.Contains(v, "?"):
			parts[i] = k + "=" + v[:strings.Index(v, "?")] + "?xxxxx"
		}
	}
	return strings.Join(parts, ";")
}

// checkAccountKey refuses an AccountKey that is not base64: most often a
// spec whose container was forgotten, so that its last '/' cut the key.
func checkAccountKey(cs string) error {
	for _, part := range strings.Split(cs, ";") {
		if k, v, ok := strings.Cut(part, "="); ok && k == "AccountKey" {
			if _, err := base64.StdEncoding.DecodeString(v); err != nil || v == "" {
				return fmt.Errorf("ownership: blob storage connection string %s: its AccountKey is not base64 "+
					"(was the /CONTAINER at the end left out, so that a '/' inside the key was taken for it?)", redactConnStr(cs))
			}
		}
	}
	return nil
}
