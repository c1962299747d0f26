// Package linesend sends the lines of a reader to a hub as events, as
// `ehstream send` sends its standard input: a line's text is an event's
// body, or with Options.JSON a line is an event in package eventjson's
// form, with its own properties and partition key. Blank lines are
// skipped.
//
// Consecutive events with one partition key (or none) share a batch, which
// goes out when it is full, when the key changes, at the end, and whenever
// no line is waiting, so that an interactive sender sees each line go out
// as it types it. When sending fails, Result says how many events went out
// and the first line of those that did not: every line before it was sent.
//
//	producer, err := azeventhubs.NewProducerClientFromConnectionString(connStr, hub, nil)
//	res, err := linesend.Send(ctx, producer, os.Stdin, &linesend.Options{JSON: true})
//
// A program that reads with an eventhubs.Conf sends with its producer,
// signed in as the Conf is (a connection string, or Microsoft Entra ID's
// credential): producer, err := conf.NewProducerClient().
//
// Files: send.go (Send, Options, Result; lines into events), lines.go
// (reading lines while telling whether one is waiting), batch.go (batches
// by partition key).
package linesend
