package ownership

import (
	"context"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2/checkpoints"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/ehstream/ehstream/internal/blobspec"
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
	secrets := blobspec.ConnStrSecrets(connectionString)
	if err := blobspec.ValidContainer(containerName, secrets); err != nil {
		return nil, fmt.Errorf("ownership: %w", err)
	}
	if err := blobspec.CheckAccountKey(connectionString); err != nil {
		return nil, fmt.Errorf("ownership: %w", err)
	}
	cc, err := container.NewClientFromConnectionString(connectionString, containerName, opts.Client)
	if err != nil {
		return nil, fmt.Errorf("ownership: blob storage connection string %s: %w", blobspec.RedactConnStr(connectionString), dbspec.ScrubErr(err, secrets))
	}
	return openContainer(ctx, cc, containerName, blobspec.RedactConnStr(connectionString), secrets, opts.ReadOnly)
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
	name, err := blobspec.ContainerOfURL(containerURL)
	if err != nil {
		return nil, fmt.Errorf("ownership: %w", err)
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
