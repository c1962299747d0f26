package capture

import (
	"context"
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/ehstream/ehstream/internal/blobspec"
)

// OpenDestination opens the destination a one-line spec names, as
// `ehstream stream --sink` gives it: file:DIR, blob:CONNECTION-STRING/CONTAINER
// (the container after the last '/'), or blob:https://ACCOUNT.blob.core.windows.net/CONTAINER
// signed in with cred. opts applies to a blob destination.
func OpenDestination(ctx context.Context, spec string, cred azcore.TokenCredential, opts *BlobOptions) (Destination, error) {
	rest, isBlob := strings.CutPrefix(spec, "blob:")
	switch {
	case strings.HasPrefix(spec, "file:"):
		dir := strings.TrimPrefix(spec, "file:")
		if dir == "" {
			return nil, fmt.Errorf("capture: file: needs a directory, e.g. file:/data/events")
		}
		return NewDir(dir)
	case isBlob && (strings.HasPrefix(rest, "https://") || strings.HasPrefix(rest, "http://")):
		return NewBlobWithCredential(ctx, rest, cred, opts)
	case isBlob:
		i := strings.LastIndex(rest, "/")
		if i < 0 {
			return nil, fmt.Errorf("capture: %s: want blob:CONNECTION-STRING/CONTAINER, the container after the last '/'", RedactSpec(spec))
		}
		// The whole spec's secrets: a '/' inside the key may have been
		// taken for the container's.
		if err := blobspec.ValidContainer(rest[i+1:], blobspec.ConnStrSecrets(rest)); err != nil {
			return nil, fmt.Errorf("capture: %w", err)
		}
		return NewBlob(ctx, rest[:i], rest[i+1:], opts)
	}
	return nil, fmt.Errorf("capture: destination %s: want file:DIR, blob:CONNECTION-STRING/CONTAINER or blob:https://ACCOUNT.blob.core.windows.net/CONTAINER", RedactSpec(spec))
}

// RedactSpec is a destination spec as it may be shown: without a
// connection string's account key or signature, or a URL's query.
func RedactSpec(spec string) string {
	rest, ok := strings.CutPrefix(spec, "blob:")
	switch {
	case !ok:
		if strings.HasPrefix(spec, "file:") {
			return spec
		}
		return blobspec.RedactConnStr(spec) // not a spec: may be a connection string without its blob:
	case strings.HasPrefix(rest, "https://"), strings.HasPrefix(rest, "http://"):
		return "blob:" + blobspec.RedactURL(rest)
	}
	return "blob:" + blobspec.RedactConnStr(rest)
}
