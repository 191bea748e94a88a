package docker

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
)

// seccompJSON is maid's own seccomp profile, passed to the engine as
// SecurityOpt "seccomp=<json>". Why not the engine's default profile: it
// is written for general containers and differs by engine version (20.10's
// allows io_uring_setup, a large kernel surface with a long record of
// privilege escalations) and allows what a Python plugin never needs.
//
// The profile is an allow-list: anything not named is refused with EPERM
// (engines that honour defaultErrnoRet; older ones default to EPERM too).
// Only the native architecture is listed, so 32-bit compat syscalls (int
// 0x80) do not reach the kernel. clone is allowed only without namespace
// flags; clone3, whose flags sit in memory seccomp cannot read, answers
// ENOSYS so glibc falls back to clone. socket is allowed for AF_UNIX,
// AF_INET, AF_INET6 (there is no network: NetworkMode none) and
// NETLINK_ROUTE (glibc's getaddrinfo asks it for local addresses). The
// "deny" rules restate, with a reason, what the default already refuses,
// so that widening the allow-list cannot silently let them through
// (TestSeccompProfile checks the two lists are disjoint).
//
//go:embed seccomp.json
var seccompJSON []byte

// seccompOpt is the SecurityOpt entry carrying the profile, compacted.
var seccompOpt = func() string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, seccompJSON); err != nil {
		panic(fmt.Sprintf("docker backend: embedded seccomp profile: %v", err))
	}
	return "seccomp=" + buf.String()
}()
