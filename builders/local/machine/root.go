package machine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/pipebuild/pipe/stages"
)

// helperName is argv[0] of the helper process; Init recognises it.
const helperName = "pipe-machine-helper"

// defaultResolvConf is the host file a machine sees as /etc/resolv.conf.
const defaultResolvConf = "/etc/resolv.conf"

// initialized records that Init ran and returned, so that re-executing the
// binary is known to reach the helper rather than run pipe (or a test suite)
// recursively.
var initialized atomic.Bool

// Root describes a machine's filesystem.
type Root struct {
	// Lower holds the extracted layer directories, top-most first. It may
	// be empty (a scratch machine).
	Lower []string
	// Upper receives this stage's changes (the overlay upperdir). It is
	// created if missing.
	Upper string
	// Work is the overlay workdir, on the same filesystem as Upper. It is
	// created if missing. Its parent also holds an empty directory that
	// serves as the lower layer of a scratch machine.
	Work string
	// Merged is the mount point of the overlay, created if missing. It is
	// mounted only inside helper processes, never in pipe's own namespace.
	Merged string
	// ResolvConf is the host file bind-mounted read-only as the machine's
	// /etc/resolv.conf while a command runs; "" means /etc/resolv.conf.
	ResolvConf string
}

// Communicator returns the Communicator that reaches the machine. Each of
// its operations mounts the machine afresh in a helper process, so it holds
// no resources and needs no closing.
func (r *Root) Communicator() stages.Communicator {
	c := *r
	c.Lower = append([]string(nil), r.Lower...)
	return &Communicator{root: c}
}

// Init must be called first thing in main, and in TestMain of any package
// whose tests launch machines. In a helper process (argv[0] is
// "pipe-machine-helper") it serves the helper's request and exits;
// otherwise it returns at once.
func Init() {
	if len(os.Args) > 0 && os.Args[0] == helperName {
		os.Exit(helperMain())
	}
	initialized.Store(true)
}

// Check reports whether this host can run local machines, and if not, what
// is missing and how to fix it.
func Check() error {
	if os.Geteuid() != 0 {
		return errors.New("the local builder needs root: run pipe as root (sudo)")
	}
	fss, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return fmt.Errorf("read /proc/filesystems: %w", err)
	}
	if !bytes.Contains(fss, []byte("\toverlay\n")) {
		return errors.New("overlayfs is not available: load it with `modprobe overlay`")
	}
	if !initialized.Load() {
		return errNoInit
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := call(ctx, &request{Op: opProbe}, streams{}); err != nil {
		return fmt.Errorf("cannot create mount, PID, UTS and IPC namespaces (%w): "+
			"in a container, run pipe privileged (docker run --privileged)", err)
	}
	return nil
}

// resolvConf is the host file to bind as /etc/resolv.conf, and whether a
// missing file is an error (only when the user named it).
func (r *Root) resolvConf() (path string, required bool) {
	if r.ResolvConf == "" {
		return defaultResolvConf, false
	}
	return r.ResolvConf, true
}
