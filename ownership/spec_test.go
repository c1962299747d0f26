package ownership_test

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/ehstream/ehstream/ownership"
)

// claimWorks claims a partition through store and lists it back.
func claimWorks(t *testing.T, store azeventhubs.CheckpointStore) {
	t.Helper()
	got, err := store.ClaimOwnership(testCtx(t, 30*time.Second), []azeventhubs.Ownership{rec("0", "a", nil)}, nil)
	if err != nil || len(got) != 1 {
		t.Fatalf("claim: %v %v", got, err)
	}
	os, err := store.ListOwnership(testCtx(t, 30*time.Second), testNamespace, testHub, testGroup, nil)
	if err != nil || len(os) != 1 || os[0].OwnerID != "a" {
		t.Fatalf("list: %v %v", os, err)
	}
}

func TestOpenSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "own.db")
	// Read-only: a missing file is an error, and is not created.
	if _, _, err := ownership.Open(testCtx(t, 30*time.Second), "sqlite:"+path, "totals", &ownership.Options{ReadOnly: true}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("read-only open of a missing file: %v", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("a read-only open created the file")
	}
	store, closer, err := ownership.Open(testCtx(t, 30*time.Second), "sqlite:"+path, "totals", nil)
	if err != nil {
		t.Fatal(err)
	}
	s, ok := store.(*ownership.SQLStore)
	if !ok || s.Job() != "totals" || s.Table() != ownership.DefaultTable {
		t.Fatalf("Open(sqlite:) = %T %+v, want a SQLStore of job totals on %s", store, store, ownership.DefaultTable)
	}
	claimWorks(t, store)
	closer.Close()
	// Read-only, once it exists: the same records.
	store, closer, err = ownership.Open(testCtx(t, 30*time.Second), "sqlite:"+path, "totals", &ownership.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	os, err := store.ListOwnership(testCtx(t, 30*time.Second), testNamespace, testHub, testGroup, nil)
	if err != nil || len(os) != 1 {
		t.Fatalf("read-only list: %v %v", os, err)
	}
	// Read-only without a job: ownership, and no checkpoints.
	store, closer2, err := ownership.Open(testCtx(t, 30*time.Second), "sqlite:"+path, "", &ownership.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer closer2.Close()
	if os, err := store.ListOwnership(testCtx(t, 30*time.Second), testNamespace, testHub, testGroup, nil); err != nil || len(os) != 1 {
		t.Fatalf("read-only list without a job: %v %v", os, err)
	}
	if _, err := store.ListCheckpoints(testCtx(t, 30*time.Second), testNamespace, testHub, testGroup, nil); err == nil || !strings.Contains(err.Error(), "without a job") {
		t.Fatalf("checkpoints of a store without a job: %v", err)
	}
	if _, _, err := ownership.Open(testCtx(t, 30*time.Second), "sqlite:"+path, "", nil); err == nil || !strings.Contains(err.Error(), "name the job") {
		t.Fatalf("a SQL store without a job: %v", err)
	}
}

func TestOpenPostgres(t *testing.T) {
	base := postgresURL(t)
	suffix := unique("")
	opts := &ownership.Options{OffsetsTable: "offsets_o" + suffix, OwnershipTable: "ownership_o" + suffix}
	db := openPostgres(t)
	t.Cleanup(func() {
		db.Exec("DROP TABLE IF EXISTS " + opts.OffsetsTable)
		db.Exec("DROP TABLE IF EXISTS " + opts.OwnershipTable)
	})
	if _, _, err := ownership.Open(testCtx(t, 30*time.Second), base, "totals", &ownership.Options{ReadOnly: true, OffsetsTable: opts.OffsetsTable, OwnershipTable: opts.OwnershipTable}); err == nil || !strings.Contains(err.Error(), "holds no table") {
		t.Fatalf("read-only open without tables: %v", err)
	}
	for _, spec := range []string{base, strings.Replace(base, "postgres://", "postgresql://", 1)} {
		store, closer, err := ownership.Open(testCtx(t, 30*time.Second), spec, "totals", opts)
		if err != nil {
			t.Fatal(err)
		}
		if s := store.(*ownership.SQLStore); s.Table() != opts.OwnershipTable {
			t.Fatalf("table %s, want %s", s.Table(), opts.OwnershipTable)
		}
		if spec == base {
			claimWorks(t, store)
		}
		closer.Close()
	}
}

func TestOpenBlob(t *testing.T) {
	cs := azuriteConnStr(t) // ends with ';'
	name := unique("spec-")
	ro := &ownership.Options{ReadOnly: true}
	if _, _, err := ownership.Open(testCtx(t, 30*time.Second), "blob:"+cs+"/"+name, "", ro); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("read-only open of a missing container: %v", err)
	}
	cc, err := container.NewClientFromConnectionString(cs, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cc.GetProperties(testCtx(t, 30*time.Second), nil); err == nil {
		t.Fatal("a read-only open created the container")
	}
	t.Cleanup(func() { cc.Delete(testCtx(t, 30*time.Second), nil) })
	// With and without a ';' before the container.
	for _, spec := range []string{"blob:" + cs + "/" + name, "blob:" + strings.TrimSuffix(cs, ";") + "/" + name} {
		store, closer, err := ownership.Open(testCtx(t, 30*time.Second), spec, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		closer.Close()
		if spec == "blob:"+cs+"/"+name {
			claimWorks(t, store)
		}
	}
	if _, err := cc.GetProperties(testCtx(t, 30*time.Second), nil); err != nil {
		t.Fatalf("Open did not create the container: %v", err)
	}
	if _, _, err := ownership.Open(testCtx(t, 30*time.Second), "blob:"+cs+"/"+name, "", ro); err != nil {
		t.Fatalf("read-only open of the container: %v", err)
	}
}

// Bad specs are refused with an error naming what is wrong, and no error
// repeats a password, account key or shared access signature.
func TestOpenErrorsHideSecrets(t *testing.T) {
	const pw, sas = "hunter2pw", "sv=2024-01-01&sig=s3cr3tSIG"
	endpoint := "BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;"
	for _, c := range []struct {
		spec, want string
	}{
		{"mysql://root:" + pw + "@db.example/app", "want a postgres:// URL, sqlite:PATH or blob:"},
		{"postgres://user:" + pw + "@127.0.0.1:1/app?sslmode=disable&connect_timeout=5", "127.0.0.1:1"},
		{"postgres://user@127.0.0.1:1/app?sslmode=disable&connect_timeout=5&password=" + pw, "127.0.0.1:1"},
		{"sqlite:", "needs a file"},
		// The container left out: the last '/' is the BlobEndpoint's.
		{"blob:AccountName=devstoreaccount1;AccountKey=" + devAccountKey + ";" + endpoint, `"devstoreaccount1;"`},
		// The container left out, the key last: its last '/' is taken.
		{"blob:" + endpoint + "AccountName=devstoreaccount1;AccountKey=" + devAccountKey, "want blob:CONNECTION-STRING/CONTAINER"},
		{"blob:AccountName=devstoreaccount1;AccountKey=" + devAccountKey + ";" + endpoint + "/My_Container", `"My_Container"`},
		{"blob:AccountName=devstoreaccount1;AccountKey=" + devAccountKey + ";" + endpoint + "/", "no container"},
		{"blob:AccountName=devstoreaccount1;AccountKey=" + devAccountKey, "want blob:CONNECTION-STRING/CONTAINER"},
		// A key cut at one of its '/' leaves a valid-looking container.
		{"blob:AccountName=a;AccountKey=abcd+/efgh", "AccountKey is not base64"},
		{"blob:" + endpoint + "SharedAccessSignature=" + sas, "want blob:CONNECTION-STRING/CONTAINER"},
	} {
		_, _, err := ownership.Open(testCtx(t, 30*time.Second), c.spec, "totals", nil)
		if err == nil {
			t.Errorf("Open(%s): no error", ownership.Redact(c.spec))
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, c.want) {
			t.Errorf("Open(%s): %q, want it to say %q", ownership.Redact(c.spec), msg, c.want)
		}
		for _, secret := range []string{pw, devAccountKey, "KBHBeksoGMGw", "s3cr3tSIG", "abcd+", "efgh"} {
			if strings.Contains(msg, secret) {
				t.Errorf("Open(%s): the error shows a secret (%s): %s", ownership.Redact(c.spec), secret, msg)
			}
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:pw@h:5432/db?sslmode=disable":                       "postgres://u:xxxxx@h:5432/db?sslmode=disable",
		"postgresql://u@h/db?password=pw&sslmode=disable":                 "postgresql://u@h/db?" + url.Values{"password": {"xxxxx"}, "sslmode": {"disable"}}.Encode(),
		"sqlite:/var/lib/ehstream.db":                                     "sqlite:/var/lib/ehstream.db",
		"blob:AccountName=a;AccountKey=k/ey==;/c":                         "blob:AccountName=a;AccountKey=xxxxx;/c",
		"blob:BlobEndpoint=https://a.blob/?sv=1&sig=s;/c":                 "blob:BlobEndpoint=https://a.blob/?xxxxx;/c",
		"blob:BlobEndpoint=https://a/;SharedAccessSignature=sv=1&sig=s/c": "blob:BlobEndpoint=https://a/;SharedAccessSignature=xxxxx",
	} {
		if got := ownership.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
