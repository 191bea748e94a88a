// Command maid hosts sandboxed Python plugins for a Discord bot.
//
//	maid serve      run the dashboard, the Discord gateway (or simulator) and the engine
//	maid call       run one plugin call through the engine (black-box entry point)
//	maid plugin     validate or pack a plugin
//	maid replay     feed recorded events through the engine
//	maid bench      benchmark the sandbox backends side by side
//	maid admin link print a one-time admin sign-in link for a running server
//	maid version    print the version
//
// Exit codes: 0 ok, 1 failure, 2 usage. Every flag has a MAID_* environment
// override (flag > environment > default).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// commands maps subcommand names to their entry points.
var commands = map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) int{
	"plugin": runPlugin,
	"call":   runCall,
	"serve":  runServe,
	"bench":  runBench,
	"replay": runReplay,
	"dev":    runDev,

	"fakediscord": runFakeDiscord,
	"cluster":     runCluster,
	"admin":       runAdmin,
}

const usage = `maid hosts sandboxed Python plugins for a Discord bot.

Usage:
  maid serve   [flags]                 run dashboard, gateway or simulator, and engine
  maid call    [flags] PLUGIN METHOD [PARAMS_JSON]
  maid plugin  validate PATH | pack DIR [-o FILE.zip]
  maid replay  [flags] FILE.jsonl | --exact RECORDING
  maid dev     [flags] DIR             run one plugin with hot reload, simulator and dashboard
  maid bench   [flags]
  maid fakediscord [flags]            a fake Discord to run maid against without a token
  maid cluster status|drain [flags]   cluster mode: nodes, shard leases, drain a node
  maid admin   link [flags]            print a one-time dashboard sign-in link
  maid version

Run 'maid COMMAND -h' for a command's flags. Most of maid serve's flags
can also be set with MAID_ environment variables (e.g. MAID_BACKEND=docker);
docs/operations.md lists each flag's variable.
`

// newFlags is a command's flag set: errors and -h go to stderr, -h
// printing usage and then the flags.
func newFlags(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	return fs
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	case "version", "--version":
		fmt.Fprintf(stdout, "maid %s\n", version)
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "maid: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	return cmd(ctx, args[1:], stdout, stderr)
}
