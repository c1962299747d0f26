// Reads a Parquet file that capture wrote with DuckDB's read_parquet and
// prints its rows as JSON, one object per row, in sequence order: the
// test (capture/readers_test.go) compares them with the hub's events.
// Usage: node read_parquet.js FILE
const { DuckDBInstance } = require('@duckdb/node-api');

async function main() {
  const file = process.argv[2];
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  // Times print in UTC, whatever the machine's zone.
  await conn.run("SET TimeZone = 'UTC'");
  const sql = `
    SELECT partition_id, sequence_number::VARCHAR AS seq, "offset",
           epoch_us(enqueued_time)::VARCHAR AS enqueued_us, partition_key,
           to_json(properties)::VARCHAR AS props, hex(body) AS body_hex,
           content_type, message_id, device, temp, "at"::VARCHAR AS "at",
           typeof(enqueued_time) AS enqueued_type, typeof(properties) AS props_type
    FROM read_parquet($file) ORDER BY sequence_number`;
  const prepared = await conn.prepare(sql);
  prepared.bindVarchar(1, file);
  const reader = await prepared.runAndReadAll();
  process.stdout.write(JSON.stringify(reader.getRowObjectsJson()));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
