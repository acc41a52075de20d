// Command pipe builds machine images the way a compiler builds programs: a
// YAML file describes images as a DAG of layered stages, every stage is keyed
// by a content hash of its inputs, and a run rebuilds only what changed.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/pipebuild/pipe/builders/local/machine"
	"github.com/pipebuild/pipe/schema"
)

// Exit codes, documented in the README.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitConfig      = 3
	exitInterrupted = 130
)

func main() {
	// A local build machine re-executes pipe as its namespace helper.
	machine.Init()
	// pipe is a short-lived process whose heap is mostly what it reads at
	// start (the file, the stat cache, records): collecting less often
	// costs little memory and saves much of a no-op run's CPU. GOGC in the
	// environment still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// usageError marks errors in how the command was called.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// configError marks errors in the pipeline file or its inputs.
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }
func (e configError) Unwrap() error { return e.err }

// exitError carries an exit code whose message was already printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// run executes the CLI and returns its exit code.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := interruptContext(stderr)
	defer stop()
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	fmt.Fprintln(stderr, errorText(err))
	return exitCode(err)
}

func errorText(err error) string {
	var list schema.Errors
	if errors.As(err, &list) {
		return list.Error()
	}
	return "pipe: " + err.Error()
}

func exitCode(err error) int {
	var ue usageError
	var ce configError
	if isCobraUsage(err) {
		return exitUsage
	}
	var se *schema.Error
	var sl schema.Errors
	switch {
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &ce), errors.As(err, &se), errors.As(err, &sl):
		return exitConfig
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	}
	return exitFailed
}

// isCobraUsage recognises cobra's own errors for a wrong command line:
// unknown commands and wrong argument counts.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command ", "accepts ", "requires at least ", "requires at most ", "unknown flag", "unknown shorthand flag"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// interruptContext is cancelled by the first SIGINT or SIGTERM, so that
// running stages stop and clean up; a second signal exits at once.
func interruptContext(stderr io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
		fmt.Fprintln(stderr, "pipe: interrupted: cleaning up (interrupt again to exit at once)")
		cancel()
		<-ch
		fmt.Fprintln(stderr, "pipe: interrupted twice: exiting without clean-up")
		os.Exit(exitInterrupted)
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}
