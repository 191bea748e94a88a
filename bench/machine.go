package bench

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// machineInfo collects what the figures depend on. Fields it cannot read
// stay empty rather than failing the run.
func machineInfo(ctx context.Context, version string) Machine {
	m := Machine{
		Cores:       runtime.NumCPU(),
		OS:          runtime.GOOS,
		Arch:        runtime.GOARCH,
		GoVersion:   runtime.Version(),
		MaidVersion: version,
		MaidCommit:  commit(ctx),
	}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if kb := procField("/proc/meminfo", "MemTotal:"); kb > 0 {
		m.MemoryBytes = kb << 10
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(data))
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(cctx, "python3", "--version").CombinedOutput(); err == nil {
		m.Python = strings.TrimSpace(string(out))
	}
	m.LoadAvgStart = loadAvg()
	return m
}

// commit is the maid commit the binary was built from: the VCS stamp Go
// embeds in builds, else what git says about the working directory.
func commit(ctx context.Context) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev != "" {
			if dirty {
				rev += "+dirty"
			}
			return rev
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(cctx, "git", "rev-parse", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	rev := strings.TrimSpace(string(out))
	if st, err := exec.CommandContext(cctx, "git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		rev += "+dirty"
	}
	return rev
}

// loadAvg reads the 1, 5 and 15 minute load averages (zeros if unknown).
func loadAvg() [3]float64 {
	var out [3]float64
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return out
	}
	for i, f := range strings.Fields(string(data)) {
		if i >= 3 {
			break
		}
		out[i], _ = strconv.ParseFloat(f, 64)
	}
	return out
}

// procField reads a "Name:   123 kB" field of a /proc file, in kB (0 if absent).
func procField(path, name string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, name); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// proc is one process seen in /proc.
type proc struct {
	pid  int
	ppid int
	comm string
}

// procs lists processes (Linux; nil elsewhere).
func procs() []proc {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// comm is in parentheses and may hold spaces; fields follow the last ')'.
		s := string(data)
		l, r := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if l < 0 || r < l {
			continue
		}
		f := strings.Fields(s[r+1:])
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		out = append(out, proc{pid: pid, ppid: ppid, comm: s[l+1 : r]})
	}
	return out
}

// memOf returns a process's resident and proportional set sizes in bytes
// (PSS splits shared pages among the processes sharing them, so summing it
// does not count the interpreter's shared libraries once per process).
func memOf(pid int) (rss, pss int64) {
	base := "/proc/" + strconv.Itoa(pid)
	rss = procField(base+"/status", "VmRSS:") << 10
	pss = procField(base+"/smaps_rollup", "Pss:") << 10
	return rss, pss
}

// selfRSS is this process's resident set size in bytes.
func selfRSS() int64 { return procField("/proc/self/status", "VmRSS:") << 10 }

// settleHeap returns freed Go memory to the OS so RSS reflects live memory.
func settleHeap() {
	runtime.GC()
	debug.FreeOSMemory()
}
