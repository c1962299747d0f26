package capture

import (
	"context"
	"fmt"
	"net/url"
	"os"

	"path/filepath"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/ehstream/ehstream/internal/blobspec"
	"github.com/ehstream/ehstream/internal/dbspec"
)

// Blob is a Destination in an Azure Blob Storage container. A file grows
// in a local spool file, then is uploaded by the SDK, which stages its
// blocks and commits the block list (or puts a small file in one request):
// the commit is the one step that makes the blob visible, and uncommitted
// blocks are never listed (the service discards them within a week).
//
// The blocks are staged when the file is finished, not as it grows,
// because a blob's name is fixed when its first block is staged, and the
// name holds the range's end, known only at the end; Blob Storage has no
// rename, and the server-side copies that would stand for one (Put Block
// From URL, Copy Blob From URL) are not in Azurite and need a SAS for the
// source. So each partition's open file takes up to RollSize of local
// disk in BlobOptions.SpoolDir.
type Blob struct {
	cc          *container.Client
	desc        string   // the account and container, without secrets
	secrets     []string // kept out of errors
	spoolDir    string
	blockSize   int64
	concurrency uint16
}

// BlobOptions holds NewBlob's optional settings; nil means defaults.
type BlobOptions struct {
	// Client configures the container client (retries, transport); nil
	// means azblob's defaults.
	Client *container.ClientOptions
	// SpoolDir holds files while they grow; "" means os.TempDir().
	SpoolDir string
	// BlockSize is the size of the blocks a file is uploaded in; 0 means
	// 8 MiB.
	BlockSize int64
	// Concurrency is how many blocks of a file are staged at once; 0
	// means 4.
	Concurrency uint16
	// ReadOnly opens the container without creating it, for a listing
	// (ReportFiles): a missing container is an error.
	ReadOnly bool
}

// NewBlob is the container containerName of the storage account
// connectionString names (AccountName and AccountKey, or a
// SharedAccessSignature; BlobEndpoint for Azurite), created if missing.
func NewBlob(ctx context.Context, connectionString, containerName string, opts *BlobOptions) (*Blob, error) {
	secrets := blobspec.ConnStrSecrets(connectionString)
	if err := blobspec.ValidContainer(containerName, secrets); err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	if err := blobspec.CheckAccountKey(connectionString); err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	o := blobOptions(opts)
	cc, err := container.NewClientFromConnectionString(connectionString, containerName, o.Client)
	if err != nil {
		return nil, fmt.Errorf("capture: blob storage connection string %s: %w", blobspec.RedactConnStr(connectionString), dbspec.ScrubErr(err, secrets))
	}
	desc := fmt.Sprintf("blob container %s of %s", containerName, blobspec.RedactConnStr(connectionString))
	return openBlob(ctx, cc, desc, secrets, o)
}

// NewBlobWithCredential is NewBlob on the container at containerURL,
// https://ACCOUNT.blob.core.windows.net/CONTAINER (or an emulator's
// https://HOST:PORT/ACCOUNT/CONTAINER), signed in with cred, such as
// Microsoft Entra ID's through package credential. Its principal needs the
// role Storage Blob Data Contributor on the container.
func NewBlobWithCredential(ctx context.Context, containerURL string, cred azcore.TokenCredential, opts *BlobOptions) (*Blob, error) {
	if _, err := blobspec.ContainerOfURL(containerURL); err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	if cred == nil {
		return nil, fmt.Errorf("capture: blob container %s: no credential to sign in with", containerURL)
	}
	o := blobOptions(opts)
	cc, err := container.NewClient(containerURL, cred, o.Client)
	if err != nil {
		return nil, fmt.Errorf("capture: blob container %s: %w", containerURL, err)
	}
	return openBlob(ctx, cc, "blob container "+containerURL, nil, o)
}

func blobOptions(opts *BlobOptions) BlobOptions {
	o := BlobOptions{}
	if opts != nil {
		o = *opts
	}
	if o.SpoolDir == "" {
		o.SpoolDir = os.TempDir()
	}
	if o.BlockSize == 0 {
		o.BlockSize = 8 << 20
	}
	if o.Concurrency == 0 {
		o.Concurrency = 4
	}
	return o
}

// openBlob creates the container if it is missing (or, ReadOnly, checks
// that it exists), which also checks that the account answers and takes
// the credentials.
func openBlob(ctx context.Context, cc *container.Client, desc string, secrets []string, o BlobOptions) (*Blob, error) {
	if o.ReadOnly {
		_, err := cc.GetProperties(ctx, nil)
		if bloberror.HasCode(err, bloberror.ContainerNotFound) {
			return nil, fmt.Errorf("capture: %s does not exist: name the container a stream writes to", desc)
		}
		if err != nil {
			return nil, fmt.Errorf("capture: reading %s (check the account, its key or the credential's role, Storage Blob Data Reader): %w", desc, dbspec.ScrubErr(err, secrets))
		}
		return &Blob{cc: cc, desc: desc, secrets: secrets, spoolDir: o.SpoolDir, blockSize: o.BlockSize, concurrency: o.Concurrency}, nil
	}
	if _, err := cc.Create(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return nil, fmt.Errorf("capture: creating %s (check the account, its key or the credential's role, Storage Blob Data Contributor): %w",
			desc, dbspec.ScrubErr(err, secrets))
	}
	if fi, err := os.Stat(o.SpoolDir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("capture: the spool directory %s, where files grow before they are uploaded, is not a directory: name one (BlobOptions.SpoolDir)", o.SpoolDir)
	}
	return &Blob{cc: cc, desc: desc, secrets: secrets, spoolDir: o.SpoolDir, blockSize: o.BlockSize, concurrency: o.Concurrency}, nil
}

func (b *Blob) String() string { return b.desc }

// spoolPrefix begins the names of a partition's spool files, so that
// RemoveLeftovers finds a crashed run's.
func spoolPrefix(dir string) string { return "ehstream-" + url.PathEscape(dir) + "-" }

// Begin creates the file's spool.
func (b *Blob) Begin(_ context.Context, dir string) (PendingFile, error) {
	f, err := createLocal(b.spoolDir, spoolPrefix(dir)+"*.tmp")
	if err != nil {
		return nil, fmt.Errorf("capture: %s: beginning a file of %s in the spool directory %s: %w", b.desc, dir, b.spoolDir, err)
	}
	return &blobFile{localFile: f, b: b}, nil
}

// blobFile is a file growing in its spool, which Abandon removes.
type blobFile struct {
	localFile
	b *Blob
}

// Finish uploads the spool to the blob p: its blocks, then the block list.
func (f *blobFile) Finish(ctx context.Context, p string) error {
	defer f.Abandon()
	err := f.w.Flush()
	if err == nil {
		_, err = f.b.cc.NewBlockBlobClient(p).UploadFile(ctx, f.f, &blockblob.UploadFileOptions{BlockSize: f.b.blockSize, Concurrency: f.b.concurrency})
	}
	if err != nil {
		return fmt.Errorf("capture: finishing %s in %s: %w", p, f.b.desc, dbspec.ScrubErr(err, f.b.secrets))
	}
	return nil
}

// Last descends the partition's newest time directories (lastFile).
func (b *Blob) Last(ctx context.Context, dir string) (string, error) {
	last, err := lastFile(ctx, dir, b.list, 0)
	if err != nil {
		return "", fmt.Errorf("capture: %s: finding the last file of %s: %w", b.desc, dir, dbspec.ScrubErr(err, b.secrets))
	}
	return last, nil
}

// list lists one level under dir, '/' delimiting the levels.
func (b *Blob) list(ctx context.Context, dir string) (dirs, files []string, err error) {
	prefix := dir + "/"
	pager := b.cc.NewListBlobsHierarchyPager("/", &container.ListBlobsHierarchyOptions{Prefix: &prefix})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, nil, err
		}
		for _, p := range page.Segment.BlobPrefixes {
			if name := strings.TrimSuffix(strings.TrimPrefix(*p.Name, prefix), "/"); !hidden(name) {
				dirs = append(dirs, name)
			}
		}
		for _, item := range page.Segment.BlobItems {
			if name := strings.TrimPrefix(*item.Name, prefix); !hidden(name) {
				files = append(files, name)
			}
		}
	}
	return dirs, files, nil
}

// List lists the blobs under dir whose path below dir has no hidden
// part: dir itself may be one (a partition's _start).
func (b *Blob) List(ctx context.Context, dir string) ([]string, error) {
	var prefix *string
	if dir != "" {
		prefix = new(dir + "/")
	}
	var out []string
	pager := b.cc.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: prefix})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("capture: %s: listing %s: %w", b.desc, dir, dbspec.ScrubErr(err, b.secrets))
		}
		for _, item := range page.Segment.BlobItems {
			if below := strings.TrimPrefix(*item.Name, dir+"/"); !slices.ContainsFunc(strings.Split(below, "/"), hidden) {
				out = append(out, *item.Name)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// RemoveLeftovers removes the partition's spool files in the spool
// directory: a crashed run's. Blocks staged and never committed are not
// listed, and the service discards them.
func (b *Blob) RemoveLeftovers(_ context.Context, dir string) (int, error) {
	spools, err := filepath.Glob(filepath.Join(b.spoolDir, spoolPrefix(dir)+"*.tmp"))
	if err != nil {
		return 0, err
	}
	for _, s := range spools {
		if err := os.Remove(s); err != nil {
			return 0, fmt.Errorf("capture: removing the unfinished file %s: %w", s, err)
		}
	}
	return len(spools), nil
}

var _ Destination = (*Blob)(nil)
