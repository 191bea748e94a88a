package process

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// A Backend's files (extracted SDK, per-instance scratch dirs) live in one
// dir under Config.TempDir, which a crashed maid leaves behind. Several
// maid processes may share TempDir at once (`maid call` beside `maid
// serve`, parallel test packages), so a new Backend removes only dirs
// whose owner is provably gone: each live Backend holds an flock on its
// own dir, which the kernel releases when the process dies, however it
// dies. A PID check would be weaker: PIDs are reused.
//
// The lock is taken on a staging name (initPrefix) and the dir is then
// renamed to its final name (rootPrefix), so a dir under the final name is
// locked from the moment it has that name: no sweep can find it in the
// instant between mkdir and flock.
const (
	rootPrefix = "maid-process-"
	initPrefix = "maid-process-init-"
	// ownerFile marks a dir made this way (and names its PID, for people):
	// dirs without it are left alone, since an older maid that locks
	// nothing may still be using them.
	ownerFile = "maid-owner"
	// initGrace is how long a staging dir may stay unlocked: a live maid
	// locks it right after mkdir; one older than this was left by a
	// process that died in between.
	initGrace = 10 * time.Minute
)

// newRoot makes and locks a fresh Backend dir under parent.
func newRoot(parent string) (string, *os.File, error) {
	staging, err := os.MkdirTemp(parent, initPrefix)
	if err != nil {
		return "", nil, fmt.Errorf("make backend dir: %w", err)
	}
	lock, err := lockDir(staging, unix.LOCK_EX|unix.LOCK_NB)
	if err != nil {
		os.Remove(staging)
		return "", nil, fmt.Errorf("lock backend dir: %w", err)
	}
	fail := func(err error) (string, *os.File, error) {
		os.RemoveAll(staging)
		lock.Close()
		return "", nil, err
	}
	if err := os.WriteFile(filepath.Join(staging, ownerFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		return fail(fmt.Errorf("mark backend dir: %w", err))
	}
	suffix := strings.TrimPrefix(filepath.Base(staging), initPrefix)
	for i := 0; ; i++ {
		final := filepath.Join(parent, rootPrefix+suffix)
		if i > 0 {
			final += "-" + strconv.Itoa(i)
		}
		// NOREPLACE: a plain rename would replace an empty dir of that name.
		err := unix.Renameat2(unix.AT_FDCWD, staging, unix.AT_FDCWD, final, unix.RENAME_NOREPLACE)
		if err == nil {
			return final, lock, nil
		}
		if !errors.Is(err, unix.EEXIST) || i >= 100 {
			return fail(fmt.Errorf("rename backend dir %s: %w", staging, err))
		}
	}
}

// lockDir opens dir (not following a symlink) and flocks it with how.
func lockDir(dir string, how int) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), dir)
	if err := unix.Flock(fd, how); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// SweepStale removes the Backend dirs under parent (default os.TempDir())
// whose maid process is gone, and returns how many. Dirs of live Backends,
// in this process or another, are left alone. New calls it; errors are
// skipped, since a dir that cannot be removed now is tried again next time.
func SweepStale(parent string) int {
	if parent == "" {
		parent = os.TempDir()
	}
	entries, err := os.ReadDir(parent)
	if err != nil {
		return 0
	}
	removed := 0
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, rootPrefix) {
			continue
		}
		dir := filepath.Join(parent, name)
		lock, err := lockDir(dir, unix.LOCK_EX|unix.LOCK_NB)
		if err != nil {
			continue // locked by a live Backend, or gone meanwhile
		}
		stale := false
		if strings.HasPrefix(name, initPrefix) {
			info, err := lock.Stat()
			stale = err == nil && time.Since(info.ModTime()) > initGrace
		} else if _, err := os.Lstat(filepath.Join(dir, ownerFile)); err == nil {
			stale = true
		}
		// Removed while holding the lock: a Backend cannot lock a dir
		// under its final name that it did not create itself.
		if stale && os.RemoveAll(dir) == nil {
			removed++
		}
		lock.Close()
	}
	return removed
}
