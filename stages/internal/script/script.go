// Package script holds what the shell and shell-local provisioners share:
// choosing the script source, building the environment, quoting it for a
// shell, checking exit codes and writing the common key lines. The two
// provisioners differ only in where the script runs.
package script

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/pipebuild/pipe/pipeline/cache"
)

// DefaultShebang is prepended to inline commands that do not start with
// their own "#!": -e makes the first failing command fail the script, which
// is what a list of commands is expected to mean.
const DefaultShebang = "/bin/sh -e"

// Sources are the fields that shell and shell-local share and check alike.
type Sources struct {
	Inline          []string
	Script          string
	Scripts         []string
	Env             map[string]string
	EnvironmentVars []string
	MaxRetries      int
}

// Prepare checks that exactly one script source is given, that the
// environment is well-formed, that retries are not negative and that script
// files exist (relative to dir).
func Prepare(dir string, s Sources) error {
	var errs []error
	if err := CheckSources(s.Inline, s.Script, s.Scripts); err != nil {
		errs = append(errs, err)
	}
	if _, err := Env(s.Env, s.EnvironmentVars); err != nil {
		errs = append(errs, err)
	}
	if s.MaxRetries < 0 {
		errs = append(errs, errors.New("max_retries must not be negative"))
	}
	for _, p := range Paths(s.Script, s.Scripts) {
		if _, err := os.Stat(Resolve(dir, p)); err != nil {
			errs = append(errs, fmt.Errorf("script %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// CheckSources reports an error unless exactly one of inline, script and
// scripts is set.
func CheckSources(inline []string, script string, scripts []string) error {
	n := 0
	for _, set := range []bool{len(inline) > 0, script != "", len(scripts) > 0} {
		if set {
			n++
		}
	}
	if n != 1 {
		return errors.New("exactly one of inline, script or scripts is required")
	}
	return nil
}

// Paths returns the script files named by script or scripts, in order.
func Paths(script string, scripts []string) []string {
	if script != "" {
		return []string{script}
	}
	return scripts
}

// Resolve returns p relative to dir unless it is absolute.
func Resolve(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// Inline joins inline commands into one script, with "#!"+shebang as its
// first line unless the commands bring their own.
func Inline(shebang string, lines []string) string {
	body := strings.Join(lines, "\n") + "\n"
	if len(lines) > 0 && strings.HasPrefix(lines[0], "#!") {
		return body
	}
	return "#!" + shebang + "\n" + body
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Env merges Packer's environment_vars ("K=V", in order) and the env map
// (sorted by name, so that its order is stable) into one "K=V" list; a name
// given twice takes its last value when the list is used.
func Env(env map[string]string, vars []string) ([]string, error) {
	out := make([]string, 0, len(vars)+len(env))
	for _, kv := range vars {
		name, _, ok := strings.Cut(kv, "=")
		if !ok || !envName.MatchString(name) {
			return nil, fmt.Errorf("environment_vars: %q is not NAME=VALUE", kv)
		}
		out = append(out, kv)
	}
	names := make([]string, 0, len(env))
	for name := range env {
		if !envName.MatchString(name) {
			return nil, fmt.Errorf("env: %q is not a valid variable name", name)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		out = append(out, name+"="+env[name])
	}
	return out, nil
}

// Quote renders "K=V" pairs as shell assignments, K='V' separated by spaces,
// for an execute_command's {{.Vars}}.
func Quote(env []string) string {
	parts := make([]string, len(env))
	for i, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		parts[i] = name + "=" + QuoteValue(value)
	}
	return strings.Join(parts, " ")
}

// QuoteValue single-quotes s for a POSIX shell; a quote inside s closes the
// quoting, adds an escaped quote and reopens it.
func QuoteValue(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ValidExitCodes returns codes, or [0] when none are configured.
func ValidExitCodes(codes []int) []int {
	if len(codes) == 0 {
		return []int{0}
	}
	return codes
}

// CheckExit reports an error when status is not among the valid codes.
func CheckExit(status int, valid []int) error {
	valid = ValidExitCodes(valid)
	if slices.Contains(valid, status) {
		return nil
	}
	return fmt.Errorf("exit status %d (valid: %v)", status, valid)
}

// Key writes the lines common to script provisioners: the inline commands
// one per line, the merged environment, the valid exit codes, and every
// script file's content under the path as written. Timeout and retries only
// bound how the same work runs, so they stay out.
func Key(k *cache.Key, dir string, inline []string, env []string, validExit []int, paths []string) error {
	for i, line := range inline {
		k.Add(fmt.Sprintf("inline[%d]", i), line)
	}
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		k.Add("env."+name, value)
	}
	k.Addf("valid_exit_codes", "%v", ValidExitCodes(validExit))
	for _, p := range paths {
		if err := k.File(p, Resolve(dir, p)); err != nil {
			return err
		}
	}
	return nil
}
