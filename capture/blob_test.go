package capture_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"github.com/ehstream/ehstream/capture"
	"github.com/ehstream/ehstream/internal/azuritetest"
)

var azurite azuritetest.Run

func TestMain(m *testing.M) {
	code := m.Run()
	azurite.Stop()
	os.Exit(code)
}

// newBlob is a Blob destination on a new container of Azurite's, deleted
// after the test, spooling in spool, and the container's client.
func newBlob(t *testing.T, spool string) (*capture.Blob, *container.Client) {
	t.Helper()
	cs := azurite.ConnStr(t)
	name, cc := azuritetest.NewContainer(t, cs)
	dest, err := capture.NewBlob(testCtx(t, 30*time.Second), cs, name, &capture.BlobOptions{SpoolDir: spool})
	if err != nil {
		t.Fatal(err)
	}
	return dest, cc
}

func TestBlobBasics(t *testing.T) {
	dest, _ := newBlob(t, t.TempDir())
	destinationBasics(t, dest)
}

// readBlob reads a blob's events.
func readBlob(cc *container.Client) func(p string) ([]jsonEvent, error) {
	return func(p string) ([]jsonEvent, error) {
		resp, err := cc.NewBlobClient(p).DownloadStream(context.Background(), nil)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		return readJSONLines(resp.Body)
	}
}

// A run killed mid-file, then another, into a container: each event once
// across the visible blobs, and no spool file left.
func TestBlobSinkCrashMidFile(t *testing.T) {
	cs := startHub(t, "orders", 2, 300)
	spool := t.TempDir()
	dest, cc := newBlob(t, spool)
	opts := &capture.SinkOptions{RollSize: 3000}
	run{rate: 20, crashAfter: 6}.do(t, cs, newSink(t, dest, opts))
	if left, _ := os.ReadDir(spool); len(left) == 0 {
		t.Fatal("the crashed run left no unfinished file: the test did not crash mid-file")
	}
	fill(t, cs, 2, 100)
	resumed, _ := run{rate: 40}.do(t, cs, newSink(t, dest, opts))
	if resumed.Removed == 0 || len(resumed.Positions) != 2 {
		t.Fatalf("the second run resumed %+v; want the leftovers removed and both partitions' positions", resumed)
	}
	seqs, _ := readFiles(t, dest, readBlob(cc))
	exactlyOnce(t, seqs, 2, 400)
	if left, _ := os.ReadDir(spool); len(left) > 0 {
		t.Fatalf("%d spool files left after the final clean stop", len(left))
	}
}

// Bad containers and accounts are refused with what is wrong, and never
// the key.
func TestBlobRefusesBadContainers(t *testing.T) {
	cs := azurite.ConnStr(t)
	wrongKey := strings.Replace(cs, azuritetest.DevAccountKey, "AAAA"+azuritetest.DevAccountKey[4:], 1)
	for _, c := range []struct{ cs, container, want string }{
		{cs, "Bad_Name", `container name "Bad_Name": want 3 to 63 lower-case letters`},
		{cs, "", "no container"},
		{wrongKey, "good-name", "check the account, its key"},
		{"AccountName=a;AccountKey=abcd+/efgh", "good-name", "AccountKey is not base64"},
	} {
		_, err := capture.NewBlob(testCtx(t, 30*time.Second), c.cs, c.container, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), azuritetest.DevAccountKey[4:20]) {
			t.Errorf("NewBlob(%q) = %v; want an error saying %q, without the key", c.container, err, c.want)
		}
	}
}

// Listing a container's files (ReportFiles, `ehstream files`) creates
// nothing: a missing container is an error that names it.
func TestReportFilesCreatesNoContainer(t *testing.T) {
	cs := azurite.ConnStr(t)
	name := fmt.Sprintf("missing-%d", time.Now().UnixNano())
	var out strings.Builder
	err := capture.ReportFiles(testCtx(t, 30*time.Second), "blob:"+cs+"/"+name, nil, &out)
	if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("ReportFiles on a missing container: %v, want an error naming it", err)
	}
	svc, err := service.NewClientFromConnectionString(cs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.NewContainerClient(name).GetProperties(testCtx(t, 30*time.Second), nil); !bloberror.HasCode(err, bloberror.ContainerNotFound) {
		t.Fatalf("the container exists after the listing (GetProperties: %v)", err)
	}
}
