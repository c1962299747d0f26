package capture_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ehstream/ehstream/capture"
	"github.com/ehstream/ehstream/internal/azuritetest"
)

// Specs open a directory or a container; bad ones say what is wrong,
// never with the key.
func TestOpenDestination(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if d, err := capture.OpenDestination(ctx, "file:"+dir, nil, nil); err != nil || d.String() != dir {
		t.Fatalf("OpenDestination(file:%s) = %v, %v", dir, d, err)
	}
	key := "AccountKey=" + azuritetest.DevAccountKey
	for _, c := range []struct{ spec, want string }{
		{"file:", "needs a directory"},
		{"file:" + dir + "/missing", "does not exist"},
		{"blob:AccountName=a;" + key, "want blob:CONNECTION-STRING/CONTAINER"},
		{"blob:https://a.blob.core.windows.net/c?sig=s3cr3t", "with no query"},
		{"blob:http://a.blob.core.windows.net/cont", "https only"},
		{"AccountName=a;" + key, "want file:DIR, blob:"},
	} {
		_, err := capture.OpenDestination(ctx, c.spec, nil, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "KBHBeksoGMGw") || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("OpenDestination(%.40q) = %v; want an error saying %q, without secrets", c.spec, err, c.want)
		}
	}
}

func TestOpenDestinationBlob(t *testing.T) {
	cs := azurite.ConnStr(t)
	name, _ := azuritetest.NewContainer(t, cs)
	d, err := capture.OpenDestination(context.Background(), "blob:"+cs+"/"+name, nil, nil)
	if err != nil || !strings.Contains(d.String(), name) || strings.Contains(d.String(), "KBHBeksoGMGw") {
		t.Fatalf("OpenDestination(blob:...) = %v, %v; want the container, named without the key", d, err)
	}
}
