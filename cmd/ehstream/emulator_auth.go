package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/ehstream/ehstream/emulator"
)

// authFlags are the emulator's flags for keys and exposure.
type authFlags struct {
	policies sasPolicyFlag
	insecure bool
}

func addAuthFlags(fs *flag.FlagSet) *authFlags {
	a := &authFlags{}
	fs.Var(&a.policies, "sas-policy", "shared access policy `NAME=KEY[:send,listen,manage]` (repeatable; rights default to all three); with one, "+
		"tokens and links are checked as Event Hubs does, and connection strings need the policy's name and key (default: none, any key is accepted)")
	fs.BoolVar(&a.insecure, "insecure", false, "allow listening on an address other than loopback without TLS or without a --sas-policy, and serving --http (status page, metrics and faults API, without authentication) on an address other than loopback")
	return a
}

// sasPolicyFlag keeps each --sas-policy as given. Set never fails: the
// flag package would quote the value, key and all, in its error; apply
// parses them, with errors that quote no key.
type sasPolicyFlag []string

func (f *sasPolicyFlag) String() string { return "" }

func (f *sasPolicyFlag) Set(v string) error {
	*f = append(*f, v)
	return nil
}

// apply parses the policies into cfg.
func (a *authFlags) apply(cfg *emulator.Config) error {
	seen := map[string]bool{}
	for i, v := range a.policies {
		p, err := emulator.ParseSASPolicy(v)
		if err != nil {
			return usageError{fmt.Errorf("--sas-policy (#%d): %v", i+1, err)}
		}
		if seen[p.Name] {
			return usageError{fmt.Errorf("--sas-policy %q is given twice", p.Name)}
		}
		seen[p.Name] = true
		cfg.SASPolicies = append(cfg.SASPolicies, p)
	}
	cfg.Insecure = a.insecure
	return nil
}

// connectionString is what the emulator prints for clients: with
// policies, the first one's name and a placeholder for its key, which is
// never printed.
func (a *authFlags) connectionString(srv *emulator.Server, cfg *emulator.Config) string {
	if len(cfg.SASPolicies) == 0 {
		return srv.ConnectionString("")
	}
	return "Endpoint=sb://" + srv.Addr() + ";SharedAccessKeyName=" + cfg.SASPolicies[0].Name + ";SharedAccessKey=<KEY>;UseDevelopmentEmulator=true"
}

// tlsConnectionString is the connection string for TLS as the emulator
// prints it: with policies, built from the endpoint alone, so that the
// key cannot reach the output whatever it holds; "" without TLS.
func (a *authFlags) tlsConnectionString(srv *emulator.Server, cfg *emulator.Config) string {
	cs := srv.TLSConnectionString("")
	if len(cfg.SASPolicies) == 0 || cs == "" {
		return cs
	}
	endpoint, _, _ := strings.Cut(cs, ";") // an endpoint holds no ';'
	return endpoint + ";SharedAccessKeyName=" + cfg.SASPolicies[0].Name + ";SharedAccessKey=<KEY>"
}

// printMode says whether keys are checked, naming the policies.
func (a *authFlags) printMode(w io.Writer, cfg *emulator.Config) {
	if len(cfg.SASPolicies) == 0 {
		fmt.Fprintln(w, "development mode: any key is accepted (--sas-policy NAME=KEY makes it check keys and tokens)")
		return
	}
	names := make([]string, len(cfg.SASPolicies))
	for i, p := range cfg.SASPolicies {
		names[i] = p.String()
	}
	fmt.Fprintf(w, "SAS policies:      %s; put the policy's name and key in the connection string (<KEY> above)\n", strings.Join(names, ", "))
}

// addHostNameFlag adds --host-name, names clients reach the emulator by
// that are not its machine's (Config.HostNames).
func addHostNameFlag(fs *flag.FlagSet) *[]string {
	var names []string
	fs.Func("host-name", "a name clients reach the emulator by besides its machine's names and addresses, such as a container's service name (repeatable): HTTP requests and SAS tokens may name it", func(s string) error {
		if err := emulator.CheckHostName(s); err != nil {
			return err
		}
		names = append(names, s)
		return nil
	})
	return &names
}
