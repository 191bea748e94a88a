package main

import (
	"crypto/ed25519"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/maidhq/maid/plugin"
)

// `maid plugin keygen|sign|verify` (docs/security.md, "Signed packages").

func pluginKeygen(args []string, stdout, stderr io.Writer) int {
	fs := newPluginFlags("keygen", "keygen [-o PATH] NAME", stderr)
	out := fs.String("o", "", "write PATH.key and PATH.pub (default: NAME in the current directory)")
	arg, code := oneArg(fs, args)
	if code >= 0 {
		return code
	}
	name := arg
	base := *out
	if base == "" {
		base = name
	}
	priv, pub, err := plugin.GenerateKey(name)
	if err != nil {
		fmt.Fprintf(stderr, "maid plugin keygen: %v\n", err)
		return 1
	}
	// O_EXCL: never overwrite a key someone signs with.
	f, err := os.OpenFile(base+".key", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		fmt.Fprintf(stderr, "maid plugin keygen: %v\n", err)
		return 1
	}
	if _, err := f.Write(priv); err != nil {
		f.Close()
		fmt.Fprintf(stderr, "maid plugin keygen: %v\n", err)
		return 1
	}
	if err := f.Close(); err != nil {
		fmt.Fprintf(stderr, "maid plugin keygen: %v\n", err)
		return 1
	}
	if err := os.WriteFile(base+".pub", pub, 0o644); err != nil {
		fmt.Fprintf(stderr, "maid plugin keygen: %v\n", err)
		return 1
	}
	keys, _ := plugin.ParsePublicKeys(pub)
	fmt.Fprintf(stdout, "wrote %s.key (keep it secret) and %s.pub (give it to operators: --trusted-keys); key id %s\n", base, base, plugin.KeyID(keys[0].Key))
	return 0
}

func pluginSign(args []string, stdout, stderr io.Writer) int {
	fs := newPluginFlags("sign", "sign -key NAME.key [-o FILE.zip] PATH", stderr)
	keyFile := fs.String("key", "", "private key file (maid plugin keygen)")
	out := fs.String("o", "", "signed zip to write (default: <id>-<version>.signed.zip)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 1 || *keyFile == "" {
		fs.Usage()
		return 2
	}
	data, err := os.ReadFile(*keyFile)
	if err != nil {
		fmt.Fprintf(stderr, "maid plugin sign: %v\n", err)
		return 1
	}
	key, _, err := plugin.ParsePrivateKey(data)
	if err != nil {
		fmt.Fprintf(stderr, "maid plugin sign: %s: %v\n", *keyFile, err)
		return 1
	}
	pkg, err := plugin.Load(pos[0])
	if err != nil {
		printProblems(stderr, "sign", err)
		return 1
	}
	defer pkg.Close()
	version, err := pkg.EffectiveVersion()
	if err != nil {
		fmt.Fprintf(stderr, "maid plugin sign: %v\n", err)
		return 1
	}
	name := *out
	if name == "" {
		name = pkg.Manifest.ID + "-" + version + ".signed.zip"
	}
	if _, err := writeAtomic(name, ".maid-sign-*.zip", func(w io.Writer) error { return pkg.Sign(key, w) }); err != nil {
		fmt.Fprintf(stderr, "maid plugin sign: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "signed %s %s with %s: wrote %s\n", pkg.Manifest.ID, version, plugin.KeyID(key.Public().(ed25519.PublicKey)), name)
	return 0
}

func pluginVerify(args []string, stdout, stderr io.Writer) int {
	fs := newPluginFlags("verify", "verify [-trusted-keys FILE|DIR] PATH", stderr)
	trusted := fs.String("trusted-keys", "", "trusted publisher keys: a file of keys or a directory of *.pub files")
	arg, code := oneArg(fs, args)
	if code >= 0 {
		return code
	}
	var keys *plugin.Keyring
	if *trusted != "" {
		var err error
		if keys, err = plugin.LoadKeyring(*trusted); err != nil {
			fmt.Fprintf(stderr, "maid plugin verify: %v\n", err)
			return 1
		}
	}
	pkg, err := plugin.Load(arg)
	if err != nil {
		printProblems(stderr, "verify", err)
		return 1
	}
	defer pkg.Close()
	version, _ := pkg.EffectiveVersion()
	v := pkg.Verify(keys)
	switch {
	case v.Status == plugin.SigTrusted:
		fmt.Fprintf(stdout, "ok: %s %s signed by %s (%s), a trusted key\n", pkg.Manifest.ID, version, v.Publisher, v.KeyID)
		return 0
	case v.Status == plugin.SigUntrusted && *trusted == "":
		fmt.Fprintf(stdout, "ok: %s %s has a valid signature by %s (no -trusted-keys given: the key is not checked)\n", pkg.Manifest.ID, version, v.KeyID)
		return 0
	case v.Status == plugin.SigUntrusted:
		fmt.Fprintf(stderr, "%s %s is signed by %s, which is not in %s\n", pkg.Manifest.ID, version, v.KeyID, *trusted)
	case v.Status == plugin.SigUnsigned:
		fmt.Fprintf(stderr, "%s %s is not signed\n", pkg.Manifest.ID, version)
	default:
		fmt.Fprintf(stderr, "%s %s: invalid signature: %s\n", pkg.Manifest.ID, version, v.Problem)
	}
	return 1
}

// trustFlags are serve's package signature settings.
type trustFlags struct {
	unsigned, trusted, publishers string
}

func (t *trustFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&t.unsigned, "unsigned", envOr("UNSIGNED", "warn"), "plugin packages that are unsigned or signed by an untrusted key: \"refuse\", \"warn\" (accepted with a warning) or \"allow\"; an invalid (tampered) signature is always refused")
	fs.StringVar(&t.trusted, "trusted-keys", envOr("TRUSTED_KEYS", ""), "trusted publisher keys: a file of public keys (maid plugin keygen) or a directory of *.pub files")
	fs.StringVar(&t.publishers, "publishers", envOr("PUBLISHERS", ""), "comma-separated Discord user ids that may publish (upload) plugins besides the admins")
}

// load reads the trusted keys and parses the policy.
func (t *trustFlags) load() (*plugin.Keyring, plugin.UnsignedPolicy, error) {
	pol, err := plugin.ParseUnsignedPolicy(t.unsigned)
	if err != nil {
		return nil, "", fmt.Errorf("--unsigned: %w", err)
	}
	if t.trusted == "" {
		return nil, pol, nil
	}
	keys, err := plugin.LoadKeyring(t.trusted)
	if err != nil {
		return nil, "", fmt.Errorf("--trusted-keys: %w", err)
	}
	return keys, pol, nil
}
