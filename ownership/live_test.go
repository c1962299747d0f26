package ownership_test

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/balance"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/ownership"
)

// LiveOwners names the owners of a consumer group's claims renewed
// within the expiration, by the database's clock, with their jobs and
// partitions; relinquished and expired claims, and other groups', are
// not theirs. A database without ownership records has none, and is left
// as it was.
func TestLiveOwners(t *testing.T) {
	sqlDatabases(t, func(t *testing.T, db *sql.DB, dialect offsets.Dialect) {
		ctx := testCtx(t, 30*time.Second)
		positions, store := sqlStores(t, db, "archive")
		consumer := balance.Consumer{Namespace: "LOCALHOST:5672", EventHub: "Orders", ConsumerGroup: "$Default"}
		opts := &ownership.LiveOwnersOptions{Table: store.Table()}
		if got, err := ownership.LiveOwners(ctx, positions, consumer, &ownership.LiveOwnersOptions{Table: store.Table() + "_none"}); err != nil || got != nil {
			t.Fatalf("LiveOwners without a table: %v, %v; want none", got, err)
		}
		if has, _ := offsets.HasTable(ctx, db, dialect, store.Table()+"_none"); has {
			t.Fatal("LiveOwners created the table it looked for")
		}
		claim := func(group, partition, owner string) {
			t.Helper()
			got, err := store.ClaimOwnership(ctx, []azeventhubs.Ownership{{FullyQualifiedNamespace: "localhost:5672", EventHubName: "orders",
				ConsumerGroup: group, PartitionID: partition, OwnerID: owner}}, nil)
			if err != nil || len(got) != 1 {
				t.Fatalf("claiming %s/%s for %q: %v, %v", group, partition, owner, got, err)
			}
		}
		claim("$default", "0", "replica-b")
		claim("$default", "1", "replica-a")
		claim("$default", "2", "replica-b")
		claim("$default", "3", "")       // relinquished
		claim("$default", "4", "gone")   // expired, below
		claim("audit", "0", "auditor-1") // another consumer group
		if _, err := db.Exec(fmt.Sprintf(`UPDATE %s SET modified_ms = modified_ms - 120000 WHERE owner_id = 'gone'`, store.Table())); err != nil {
			t.Fatal(err)
		}
		got, err := ownership.LiveOwners(ctx, positions, consumer, opts)
		want := []ownership.LiveOwner{{OwnerID: "replica-a", Job: "archive", Partitions: []string{"1"}}, {OwnerID: "replica-b", Job: "archive", Partitions: []string{"0", "2"}}}
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("LiveOwners = %v, %v; want %v", got, err, want)
		}
		opts.Expiration = 5 * time.Minute
		if got, err := ownership.LiveOwners(ctx, positions, consumer, opts); err != nil || len(got) != 3 || got[0].OwnerID != "gone" {
			t.Errorf("LiveOwners with an expiration of 5 minutes = %v, %v; want the claim of 2 minutes ago too", got, err)
		}
		// CheckNoLiveOwners: the same owners of the conf's consumer group as
		// an error naming them and their job; none in another group.
		cs := "Endpoint=sb://localhost:5672;SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true;EntityPath=orders"
		err = ownership.CheckNoLiveOwners(ctx, positions, eventhubs.NewConf(cs), &ownership.LiveOwnersOptions{Table: store.Table()})
		var live *ownership.LiveOwnersError
		if !errors.As(err, &live) || fmt.Sprint(live.Owners) != fmt.Sprint(want) || live.Job() != "archive" ||
			!strings.Contains(err.Error(), "replica-b (job archive) owns partitions 0, 2") || !strings.Contains(err.Error(), "consumer group $Default") {
			t.Errorf("CheckNoLiveOwners = %v, want a *LiveOwnersError naming replica-a and replica-b of job archive", err)
		}
		other := eventhubs.NewConf(cs).SetConsumerGroup("nobody")
		if err := ownership.CheckNoLiveOwners(ctx, positions, other, &ownership.LiveOwnersOptions{Table: store.Table()}); err != nil {
			t.Errorf("CheckNoLiveOwners of a group without claims = %v, want nil", err)
		}
	})
}
