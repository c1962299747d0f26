package main

import (
	"flag"
	"os"
	"slices"
)

// secretFlagEnv names the environment variable that each flag which may
// carry a secret (a database URL's password, a storage account's key) is
// read from when the command line does not give it, as
// --connection-string is from EVENTHUB_CONNECTION_STRING: a command line
// is visible to every process on the machine and a pod's arguments to
// whoever reads its spec, while a Kubernetes Secret is handed to a
// container as an environment variable (deploy/kubernetes does so).
var secretFlagEnv = map[string]string{
	"sink":      "EHSTREAM_SINK",
	"ownership": "EHSTREAM_OWNERSHIP",
}

// envNote is the usage text's note on where flag name comes from when not
// given.
func envNote(name string) string {
	return "; when not given, $" + secretFlagEnv[name] + " if set"
}

// flagsFromEnv sets each flag of secretFlagEnv that fs has and the
// command line did not give to its environment variable's value, when
// that is set and not empty. Call it after parsing.
func flagsFromEnv(fs *flag.FlagSet) {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for name, env := range secretFlagEnv {
		if v := os.Getenv(env); v != "" && !given[name] && fs.Lookup(name) != nil {
			fs.Set(name, v) // string flags: no error
		}
	}
}

// givenFlags are those of names that the command line gave, as --name.
func givenFlags(fs *flag.FlagSet, names ...string) (given []string) {
	fs.Visit(func(f *flag.Flag) {
		if slices.Contains(names, f.Name) {
			given = append(given, "--"+f.Name)
		}
	})
	return given
}
