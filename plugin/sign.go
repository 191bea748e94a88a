package plugin

import (
	"archive/zip"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Package signatures (docs/security.md, "Signed packages"). A publisher
// signs, with an Ed25519 key, the message
//
//	maid-plugin-signature-v1
//	id <plugin id>
//	version <effective version>
//	hash <canonical hash, hex>
//
// and ships it as signature.json at the package root. The hash covers
// every other file (manifest included), so no file can change; the id and
// version are inside the signed text, so a signature made for one plugin
// or version never vouches for another (an old signed version cannot be
// relabelled and replayed as a new one). The operator trusts publishers'
// public keys (--trusted-keys); what happens to unsigned or untrusted
// packages is the --unsigned policy.

// Key file formats: one line each, "<kind> <base64> [name]".
const (
	publicKeyKind  = "maid-ed25519-public"
	privateKeyKind = "maid-ed25519-private"
	signatureKind  = "maid-plugin-signature-v1"
	// maxKeyFileBytes bounds a key or keyring file; maxKeyringKeys the
	// keys a trusted-keys file or directory may hold.
	maxKeyFileBytes  = 1 << 20
	maxKeyringKeys   = 1000
	maxSignatureSize = 4 << 10
)

// ErrSignature: a package's signature is missing, malformed, does not
// verify, or is by a key the operator does not trust.
var ErrSignature = errors.New("signature check failed")

// PublicKey is a publisher's key and the name the key file gives it.
type PublicKey struct {
	Key  ed25519.PublicKey
	Name string
}

// KeyID names a key: "ed25519:" and the first 16 hex digits of the SHA-256
// of the key.
func KeyID(k ed25519.PublicKey) string {
	sum := sha256.Sum256(k)
	return "ed25519:" + hex.EncodeToString(sum[:8])
}

// GenerateKey makes a new key pair and returns the two key files' contents
// (private first). name labels the key in the public file (no spaces).
func GenerateKey(name string) (priv, pub []byte, err error) {
	if name == "" || strings.ContainsAny(name, " \t\r\n") {
		return nil, nil, fmt.Errorf("generate key: name %q must be non-empty without spaces", name)
	}
	pk, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	priv = fmt.Appendf(nil, "%s %s %s\n", privateKeyKind, base64.StdEncoding.EncodeToString(sk.Seed()), name)
	pub = fmt.Appendf(nil, "%s %s %s\n", publicKeyKind, base64.StdEncoding.EncodeToString(pk), name)
	return priv, pub, nil
}

func parseKeyLine(line, kind string, size int) ([]byte, string, error) {
	f := strings.Fields(line)
	if len(f) < 2 || len(f) > 3 || f[0] != kind {
		return nil, "", fmt.Errorf("want %q, base64 key and an optional name", kind)
	}
	b, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil || len(b) != size {
		return nil, "", fmt.Errorf("key must be %d bytes of base64", size)
	}
	name := ""
	if len(f) == 3 {
		name = f[2]
	}
	return b, name, nil
}

// ParsePrivateKey reads a private key file written by GenerateKey.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, string, error) {
	seed, name, err := parseKeyLine(strings.TrimSpace(string(data)), privateKeyKind, ed25519.SeedSize)
	if err != nil {
		return nil, "", fmt.Errorf("parse private key: %w", err)
	}
	return ed25519.NewKeyFromSeed(seed), name, nil
}

// Keyring is the set of publisher keys the operator trusts. The zero value
// (and nil) trusts no key.
type Keyring struct {
	keys map[string]PublicKey // by KeyID
}

// ParsePublicKeys reads public keys, one per line; blank lines and lines
// starting with # are skipped.
func ParsePublicKeys(data []byte) ([]PublicKey, error) {
	var out []PublicKey
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		b, name, err := parseKeyLine(line, publicKeyKind, ed25519.PublicKeySize)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		out = append(out, PublicKey{Key: ed25519.PublicKey(b), Name: name})
	}
	return out, nil
}

// NewKeyring trusts keys.
func NewKeyring(keys ...PublicKey) *Keyring {
	k := &Keyring{keys: map[string]PublicKey{}}
	for _, pk := range keys {
		k.keys[KeyID(pk.Key)] = pk
	}
	return k
}

// LoadKeyring reads trusted keys from a file (one key per line) or from
// every *.pub file of a directory.
func LoadKeyring(p string) (*Keyring, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("load trusted keys: %w", err)
	}
	files := []string{p}
	if fi.IsDir() {
		if files, err = filepath.Glob(filepath.Join(p, "*.pub")); err != nil {
			return nil, fmt.Errorf("load trusted keys: %w", err)
		}
		sort.Strings(files)
	}
	var all []PublicKey
	for _, f := range files {
		data, err := readLimited(f, maxKeyFileBytes)
		if err != nil {
			return nil, fmt.Errorf("load trusted keys: %w", err)
		}
		if len(data) > maxKeyFileBytes {
			return nil, fmt.Errorf("load trusted keys: %s: larger than %d bytes", f, maxKeyFileBytes)
		}
		keys, err := ParsePublicKeys(data)
		if err != nil {
			return nil, fmt.Errorf("load trusted keys: %s: %w", f, err)
		}
		all = append(all, keys...)
		if len(all) > maxKeyringKeys {
			return nil, fmt.Errorf("load trusted keys: more than %d keys", maxKeyringKeys)
		}
	}
	return NewKeyring(all...), nil
}

// Len is the number of trusted keys.
func (k *Keyring) Len() int {
	if k == nil {
		return 0
	}
	return len(k.keys)
}

func (k *Keyring) lookup(pub ed25519.PublicKey) (PublicKey, bool) {
	if k == nil {
		return PublicKey{}, false
	}
	pk, ok := k.keys[KeyID(pub)]
	return pk, ok && bytes.Equal(pk.Key, pub)
}

// signatureDoc is signature.json.
type signatureDoc struct {
	Format    string `json:"format"`
	ID        string `json:"id"`
	Version   string `json:"version"`
	Hash      string `json:"hash"`
	Key       string `json:"key"`
	Signature string `json:"signature"`
}

// SignedMessage is the exact text a signature covers.
func SignedMessage(id, version string, hash [32]byte) []byte {
	return fmt.Appendf(nil, "%s\nid %s\nversion %s\nhash %s\n", signatureKind, id, version, hex.EncodeToString(hash[:]))
}

// SigStatus is the outcome of checking a package's signature.
type SigStatus string

const (
	SigUnsigned  SigStatus = "unsigned"  // no signature.json
	SigTrusted   SigStatus = "trusted"   // verifies, by a trusted key
	SigUntrusted SigStatus = "untrusted" // verifies, by a key not trusted here
	SigInvalid   SigStatus = "invalid"   // malformed, or does not verify: tampered
)

// Verification says who signed a package, if anyone.
type Verification struct {
	Status    SigStatus
	KeyID     string // of the signing key, when the signature verifies
	Publisher string // the trusted key's name
	Problem   string // why the status is invalid
}

// Verify checks the package's signature.json against its files, id and
// effective version, and the signing key against trusted.
func (p *Package) Verify(trusted *Keyring) Verification {
	fi, err := os.Stat(p.path(SignatureFile))
	if errors.Is(err, os.ErrNotExist) {
		return Verification{Status: SigUnsigned}
	}
	bad := func(format string, args ...any) Verification {
		return Verification{Status: SigInvalid, Problem: fmt.Sprintf(format, args...)}
	}
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > maxSignatureSize {
		return bad("%s must be a file of at most %d bytes", SignatureFile, maxSignatureSize)
	}
	data, err := readLimited(p.path(SignatureFile), maxSignatureSize)
	if err != nil {
		return bad("read %s: %v", SignatureFile, err)
	}
	var doc signatureDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return bad("%s is not valid JSON: %v", SignatureFile, err)
	}
	if doc.Format != signatureKind {
		return bad("%s: format must be %q", SignatureFile, signatureKind)
	}
	pub, err1 := base64.StdEncoding.DecodeString(doc.Key)
	sig, err2 := base64.StdEncoding.DecodeString(doc.Signature)
	if err1 != nil || err2 != nil || len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return bad("%s: key and signature must be base64 Ed25519 values", SignatureFile)
	}
	version, err := p.EffectiveVersion()
	if err != nil {
		return bad("%v", err)
	}
	hash, err := p.CanonicalHash()
	if err != nil {
		return bad("%v", err)
	}
	// The message is rebuilt from the package itself, never taken from
	// signature.json: its id/version/hash fields are only for people.
	if !ed25519.Verify(ed25519.PublicKey(pub), SignedMessage(p.Manifest.ID, version, hash), sig) {
		return bad("the signature does not match this package (id %s, version %s, files): it was changed after signing, or signed as another plugin or version", p.Manifest.ID, version)
	}
	v := Verification{Status: SigUntrusted, KeyID: KeyID(pub)}
	if pk, ok := trusted.lookup(pub); ok {
		v.Status, v.Publisher = SigTrusted, pk.Name
	}
	return v
}

// UnsignedPolicy says what happens to a package that is unsigned or signed
// by an untrusted key: refused, accepted with a warning, or accepted. An
// invalid signature is refused whatever the policy.
type UnsignedPolicy string

const (
	UnsignedRefuse UnsignedPolicy = "refuse"
	UnsignedWarn   UnsignedPolicy = "warn"
	UnsignedAllow  UnsignedPolicy = "allow"
)

// ParseUnsignedPolicy parses refuse, warn or allow ("" is warn).
func ParseUnsignedPolicy(s string) (UnsignedPolicy, error) {
	switch UnsignedPolicy(s) {
	case "":
		return UnsignedWarn, nil
	case UnsignedRefuse, UnsignedWarn, UnsignedAllow:
		return UnsignedPolicy(s), nil
	}
	return "", fmt.Errorf("unsigned policy %q: want refuse, warn or allow", s)
}

// Check applies the policy to a verification: an error wrapping
// ErrSignature if the package must be refused, else a warning ("" for
// none).
func (pol UnsignedPolicy) Check(v Verification) (warning string, err error) {
	var what string
	switch v.Status {
	case SigTrusted:
		return "", nil
	case SigInvalid:
		return "", fmt.Errorf("%w: %s", ErrSignature, v.Problem)
	case SigUnsigned:
		what = "the package is not signed"
	case SigUntrusted:
		what = "the package is signed by " + v.KeyID + ", which is not a trusted publisher key"
	default:
		return "", fmt.Errorf("%w: unknown status %q", ErrSignature, v.Status)
	}
	switch pol {
	case UnsignedAllow:
		return "", nil
	case UnsignedRefuse:
		return "", fmt.Errorf("%w: %s (unsigned packages are refused here)", ErrSignature, what)
	}
	return what, nil
}

// Sign writes the package, signed with priv, to w as a deterministic zip:
// its files (any old signature.json left out) and a new signature.json.
func (p *Package) Sign(priv ed25519.PrivateKey, w io.Writer) error {
	version, err := p.EffectiveVersion()
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	hash, err := p.CanonicalHash()
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	doc, err := json.MarshalIndent(signatureDoc{
		Format: signatureKind, ID: p.Manifest.ID, Version: version, Hash: hex.EncodeToString(hash[:]),
		Key:       base64.StdEncoding.EncodeToString(pub),
		Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(priv, SignedMessage(p.Manifest.ID, version, hash))),
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	zw := zip.NewWriter(w)
	names := append([]string(nil), p.Files...)
	if !containsString(names, SignatureFile) {
		names = append(names, SignatureFile)
		sort.Strings(names)
	}
	for _, name := range names {
		hdr := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: packTime}
		hdr.SetMode(0o644)
		fw, err := zw.CreateHeader(hdr)
		if err != nil {
			return fmt.Errorf("sign: %w", err)
		}
		if name == SignatureFile {
			_, err = fw.Write(append(doc, '\n'))
		} else {
			err = copyFile(fw, p.path(name))
		}
		if err != nil {
			return fmt.Errorf("sign: %s: %w", name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	return nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
