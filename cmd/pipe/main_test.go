package main

import (
	"fmt"
	"github.com/pipebuild/pipe/builders/local/machine"

	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// exitFileEnv names the file where the "pipe" test command writes its exit
// code, so that scripts can assert it exactly with `exitcode N`.
const exitFileEnv = "PIPE_TEST_EXIT_FILE"

func TestMain(m *testing.M) {
	machine.Init()
	testscript.Main(m, map[string]func(){
		"pipe": func() {
			code := run(os.Args[1:], os.Stdout, os.Stderr)
			if f := os.Getenv(exitFileEnv); f != "" {
				_ = os.WriteFile(f, []byte(strconv.Itoa(code)+"\n"), 0o644)
			}
			os.Exit(code)
		},
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("testdata", "script"),
		// [localbuilder] holds where the local builder can run; with
		// PIPE_REQUIRE_INTEGRATION=1 it always holds, so that a missing
		// prerequisite fails the script instead of skipping it.
		Condition: func(cond string) (bool, error) {
			if cond == "localbuilder" {
				return os.Getenv("PIPE_REQUIRE_INTEGRATION") == "1" || machine.Check() == nil, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Setup: func(env *testscript.Env) error {
			env.Setenv("PIPE_CACHE_DIR", filepath.Join(env.WorkDir, "cache"))
			env.Setenv("HOME", filepath.Join(env.WorkDir, "home"))
			env.Setenv("XDG_CACHE_HOME", filepath.Join(env.WorkDir, "home", ".cache"))
			env.Setenv(exitFileEnv, filepath.Join(env.WorkDir, ".pipe-exit"))
			env.Setenv("PIPE_DEBUG", "")
			return os.MkdirAll(filepath.Join(env.WorkDir, "home"), 0o755)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode": cmdExitcode,
			"waitfile": cmdWaitfile,
		},
		RequireExplicitExec: true,
	})
}

// exitcode N asserts that the last `pipe` command that finished exited
// with code N.
func cmdExitcode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: exitcode N")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: %v", err)
	}
	data, err := os.ReadFile(ts.Getenv(exitFileEnv))
	ts.Check(err)
	got, err := strconv.Atoi(strings.TrimSpace(string(data)))
	ts.Check(err)
	if (got == want) == neg {
		ts.Fatalf("pipe exited with code %d, want %s%d", got, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

// waitfile PATH [TIMEOUT] waits until PATH exists, for at most TIMEOUT
// (default 10s).
func cmdWaitfile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: waitfile PATH [TIMEOUT]")
	}
	timeout := 10 * time.Second
	if len(args) == 2 {
		d, err := time.ParseDuration(args[1])
		ts.Check(err)
		timeout = d
	}
	path := ts.MkAbs(args[0])
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("waitfile: %s did not appear within %s", path, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
