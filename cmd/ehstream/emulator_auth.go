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
	jwtKeys  string
	jwtRoles []emulator.JWTRole
}

func addAuthFlags(fs *flag.FlagSet) *authFlags {
	a := &authFlags{}
	fs.Var(&a.policies, "sas-policy", "shared access policy `NAME=KEY[:send,listen,manage]` (repeatable; rights default to all three); with one, "+
		"tokens and links are checked as Event Hubs does, and connection strings need the policy's name and key (default: none, any key is accepted)")
	fs.StringVar(&a.jwtKeys, "jwt-keys", "", "take Microsoft Entra ID's JWT bearer tokens signed by the keys of this JWKS `file` (RSA keys, as Entra ID publishes them); with it, tokens and links are checked, and principals need a --jwt-role")
	fs.Func("jwt-role", "give a principal of JWT bearer tokens (its oid, else sub) rights, as a role assignment does: `PRINCIPAL=sender|receiver|owner` (repeatable)", func(s string) error {
		r, err := emulator.ParseJWTRole(s)
		a.jwtRoles = append(a.jwtRoles, r)
		return err
	})
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
	ps, err := emulator.ParseSASPolicies(a.policies)
	if err != nil {
		return usageError{fmt.Errorf("--sas-policy: %w", err)}
	}
	cfg.SASPolicies, cfg.Insecure = ps, a.insecure
	return a.applyJWT(cfg)
}

// applyJWT reads --jwt-keys and --jwt-role into cfg.
func (a *authFlags) applyJWT(cfg *emulator.Config) error {
	if len(a.jwtRoles) > 0 && a.jwtKeys == "" {
		return usageError{fmt.Errorf("--jwt-role needs --jwt-keys FILE, the keys that sign the tokens")}
	}
	if a.jwtKeys == "" {
		return nil
	}
	keys, err := emulator.LoadJWKS(a.jwtKeys)
	if err != nil {
		return usageError{fmt.Errorf("--jwt-keys: %v", err)}
	}
	cfg.JWTKeys, cfg.JWTRoles = keys, a.jwtRoles
	return nil
}

// shownConnectionString is a Server's printable connection string cs,
// or, when it is "", what stands for one: only Entra ID's tokens sign in.
func shownConnectionString(cs string) string {
	if cs == "" {
		return "none (no --sas-policy: sign in with Microsoft Entra ID's tokens, --namespace and --credential)"
	}
	return cs
}

// printMode says whether keys are checked, naming the policies.
func (a *authFlags) printMode(w io.Writer, cfg *emulator.Config) {
	if cfg.JWTKeys != nil {
		fmt.Fprintf(w, "JWT keys:          %s; %d principals with roles (sign in with --namespace and --credential)\n", strings.Join(cfg.JWTKeys.KeyIDs(), ", "), len(cfg.JWTRoles))
	}
	if len(cfg.SASPolicies) == 0 && cfg.JWTKeys == nil {
		fmt.Fprintln(w, "development mode: any key is accepted (--sas-policy NAME=KEY or --jwt-keys FILE makes it check keys and tokens)")
		return
	}
	if len(cfg.SASPolicies) == 0 {
		return
	}
	fmt.Fprintf(w, "SAS policies:      %s; put the policy's name and key in the connection string (<KEY> above)\n", emulator.DescribeSASPolicies(cfg.SASPolicies))
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
