package wasm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/sys"

	"github.com/maidhq/maid/sdk"
)

// prepareSDK returns a host dir holding maid_sdk with bytecode next to it,
// for mounting read-only at guestSDK.
//
// Why not mount sdk.FS() directly: guests cannot write __pycache__, so every
// start would compile the SDK from source, which in wasm costs more than the
// rest of the interpreter's start-up. The dir is keyed by the SDK's content,
// compiled once per cache dir by the guest interpreter itself (so the
// bytecode always matches the interpreter, and the host needs no Python), with
// unchecked-hash pycs so mtimes do not matter. The key includes
// the interpreter, so a rebuilt one recompiles.
func (b *Backend) prepareSDK(ctx context.Context, interpreter []byte) (string, error) {
	sum, err := sdkHash(interpreter)
	if err != nil {
		return "", err
	}
	root := filepath.Join(b.cfg.CacheDir, "sdk")
	dir := filepath.Join(root, sum)
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("prepare sdk: %w", err)
	}
	tmp, err := os.MkdirTemp(root, "tmp-")
	if err != nil {
		return "", fmt.Errorf("prepare sdk: %w", err)
	}
	defer os.RemoveAll(tmp) // gone after the rename; cleans up on failure
	if err := sdk.Extract(tmp); err != nil {
		return "", fmt.Errorf("prepare sdk: %w", err)
	}
	var out bytes.Buffer
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithArgs("python", "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", guestSDK).
		WithEnv("PYTHONHOME", guestPrefix).
		WithFSConfig(wazero.NewFSConfig().
			WithReadOnlyDirMount(b.stdlib, guestPrefix).
			WithDirMount(tmp, guestSDK)).
		WithStdout(&out).
		WithStderr(&out).
		WithSysWalltime().
		WithSysNanotime().
		WithStartFunctions()
	// python's own main, after the memory initialization the module lacks.
	mod, err := b.rt.InstantiateModule(ctx, b.compiled, cfg)
	if err == nil {
		err = b.initData(mod)
		for _, fn := range []string{"_initialize", "maid_main"} {
			if err != nil {
				break
			}
			_, err = mod.ExportedFunction(fn).Call(ctx)
		}
		var exit *sys.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == 0 {
			err = nil
		}
		_ = mod.Close(ctx)
	}
	if err != nil {
		return "", fmt.Errorf("prepare sdk: compile bytecode in the guest: %w: %s", err, out.Bytes())
	}
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), nil, 0o644); err != nil {
		return "", fmt.Errorf("prepare sdk: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another process finished the same SDK first; use its copy.
		if _, serr := os.Stat(filepath.Join(dir, ".complete")); serr == nil {
			return dir, nil
		}
		return "", fmt.Errorf("prepare sdk: %w", err)
	}
	return dir, nil
}

// sdkHash names the SDK's content (paths and bytes) as compiled by this
// interpreter (bytecode is specific to it).
func sdkHash(interpreter []byte) (string, error) {
	h := sha256.New()
	h.Write(interpreter)
	err := fs.WalkDir(sdk.FS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "__pycache__" {
				return fs.SkipDir
			}
			return nil
		}
		data, err := fs.ReadFile(sdk.FS(), path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(data))
		h.Write(data)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash sdk: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil))[:20], nil
}
