// Package eventjson is the JSON-lines form of events: one JSON object a
// line, as `ehstream read` prints the events it reads and `ehstream send
// --json` takes the events it sends.
//
// Append writes an eventhubs.Event as a line of Event's fields: its body as
// AppendOptions.Body says (BodyText, the default: as text, or in base64
// when it is not UTF-8, BodyEncoding saying so; BodyAuto: a JSON object or
// array as JSON, others as BodyText; BodyJSON; BodyBase64), and its
// application properties, with any value JSON cannot hold written as Go
// prints it (SafeProperties).
//
// Decode makes the azeventhubs.EventData to send of a line, with the line's
// partition key: a body that is a JSON string is sent as its text, any
// other JSON value as its JSON text; properties are the simple values
// AMQP application properties hold (whole numbers become long, others
// double).
//
// WriteRDD writes an eventhubs.RDD's events as such lines, its partitions
// read in parallel and their lines interleaved whole, telling a progress
// callback how many it wrote.
//
// HubOf is the JSON form of a hub's description, as `ehstream info --json`
// prints it.
//
// Files: encode.go (Event, Append, BodyFormat, SafeProperties), decode.go
// (Decode), write.go (WriteRDD), hub.go (Hub, HubOf).
package eventjson
