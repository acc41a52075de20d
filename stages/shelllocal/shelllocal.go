// Package shelllocal implements the "shell-local" provisioner: scripts that
// run on the host running pipe, not in the machine. With the null builder
// they run in the node's work directory (stages.Env.HostDir), which is the
// machine; otherwise in the pipeline file's directory.
package shelllocal

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/pipebuild/pipe/pipeline/cache"
	"github.com/pipebuild/pipe/stages"
	"github.com/pipebuild/pipe/stages/internal/script"
)

// keyVersion changes when what this provisioner does with the same config
// changes, to invalidate its keys on purpose.
const keyVersion = "1"

// DefaultExecuteCommand is Packer's default: a shell that sets the variables
// and runs the script.
var DefaultExecuteCommand = []string{"/bin/sh", "-c", "{{.Vars}} {{.Script}}"}

// Config is the configuration of a `shell-local:` provisioner. Exactly one of
// inline, script and scripts is required.
type Config struct {
	// Inline is a list of commands, run as one script that stops at the first
	// failing command (unless the first line is its own "#!" line).
	Inline []string `yaml:"inline"`
	// Script is a script file, relative to the pipeline file.
	Script string `yaml:"script"`
	// Scripts are script files, relative to the pipeline file, run in order.
	Scripts []string `yaml:"scripts"`
	// Env sets environment variables for the scripts.
	Env map[string]string `yaml:"env"`
	// EnvironmentVars sets environment variables as "NAME=VALUE" (Packer's form).
	EnvironmentVars []string `yaml:"environment_vars"`
	// ExecuteCommand is the command that runs each script; {{.Vars}} becomes
	// the variables as NAME='VALUE' assignments and {{.Script}} the script's
	// path. Default: ["/bin/sh", "-c", "{{.Vars}} {{.Script}}"].
	ExecuteCommand []string `yaml:"execute_command"`
	// ValidExitCodes are the exit codes that count as success. Default: [0].
	ValidExitCodes []int `yaml:"valid_exit_codes"`
	// Timeout bounds each attempt ("5m"); the scripts' processes are killed
	// when it expires.
	Timeout stages.Duration `yaml:"timeout"`
	// MaxRetries re-runs the whole provisioner up to this many more times
	// after a failure.
	MaxRetries int `yaml:"max_retries"`
}

// Provisioner is the "shell-local" provisioner.
type Provisioner struct{}

var _ stages.Provisioner = (*Provisioner)(nil)

// New returns the shell-local provisioner.
func New() *Provisioner { return &Provisioner{} }

// Type returns "shell-local".
func (*Provisioner) Type() string { return "shell-local" }

// NewConfig returns a zero *Config.
func (*Provisioner) NewConfig() any { return &Config{} }

// Prepare checks that exactly one script source is given, that the
// environment is well-formed and that script files exist.
func (*Provisioner) Prepare(cfg any, dir string) error {
	c, err := config(cfg)
	if err != nil {
		return err
	}
	return script.Prepare(dir, script.Sources{Inline: c.Inline, Script: c.Script, Scripts: c.Scripts,
		Env: c.Env, EnvironmentVars: c.EnvironmentVars, MaxRetries: c.MaxRetries})
}

// Key writes the script text, environment, command and exit codes, and the
// content of every script file.
func (*Provisioner) Key(cfg any, dir string, k *cache.Key) error {
	c, err := config(cfg)
	if err != nil {
		return err
	}
	env, err := script.Env(c.Env, c.EnvironmentVars)
	if err != nil {
		return err
	}
	k.Add("version", keyVersion)
	k.Addf("execute_command", "%q", executeCommand(c))
	return script.Key(k, dir, c.Inline, env, c.ValidExitCodes, script.Paths(c.Script, c.Scripts))
}

// Run runs the scripts on the host, retrying and timing out as configured.
func (*Provisioner) Run(ctx context.Context, cfg any, env *stages.Env) error {
	c, err := config(cfg)
	if err != nil {
		return err
	}
	vars, err := script.Env(c.Env, c.EnvironmentVars)
	if err != nil {
		return err
	}
	vars = append([]string{"PIPE_NODE=" + env.Node, "PIPE_BUILDER_TYPE=" + env.BuilderType}, vars...)
	r := stages.Retry{MaxRetries: c.MaxRetries, Timeout: c.Timeout, Log: env.Stderr}
	return r.Do(ctx, func(ctx context.Context) error { return runOnce(ctx, c, env, vars) })
}

func runOnce(ctx context.Context, c *Config, env *stages.Env, vars []string) error {
	names := script.Paths(c.Script, c.Scripts)
	var texts []string
	for _, p := range names {
		// Like Packer, run a copy made executable, so that a script
		// checked out without its x bit still runs.
		b, err := os.ReadFile(script.Resolve(env.Dir, p))
		if err != nil {
			return fmt.Errorf("script %s: %w", p, err)
		}
		texts = append(texts, string(b))
	}
	if len(c.Inline) > 0 {
		texts, names = []string{script.Inline(script.DefaultShebang, c.Inline)}, []string{"inline"}
	}
	var paths []string
	for _, text := range texts {
		tmp, err := writeScript(text)
		if err != nil {
			return err
		}
		defer os.Remove(tmp)
		paths = append(paths, tmp)
	}
	wd := env.HostDir
	if wd == "" {
		wd = env.Dir
	}
	for i, p := range paths {
		argv := expand(executeCommand(c), script.Quote(vars), p)
		cmd := &stages.Cmd{Env: vars, Stdout: env.Stdout, Stderr: env.Stderr}
		status, err := stages.RunHost(ctx, argv, wd, cmd)
		if err == nil {
			err = script.CheckExit(status, c.ValidExitCodes)
		}
		if err != nil {
			return fmt.Errorf("script %s: %w", names[i], err)
		}
	}
	return nil
}

// writeScript writes a script to an executable temporary file outside the
// work directory, so that the script never becomes part of the image.
func writeScript(text string) (string, error) {
	// Hold off forks while the file is open for writing: a process forked
	// meanwhile would inherit the descriptor until its exec, and running
	// the script would fail with "text file busy" (golang/go#22315).
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	f, err := os.CreateTemp("", "pipe-shell-local-*.sh")
	if err != nil {
		return "", fmt.Errorf("write script: %w", err)
	}
	_, err = f.WriteString(text)
	if err == nil {
		err = f.Chmod(0o700)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("write script %s: %w", f.Name(), err)
	}
	return f.Name(), nil
}

func executeCommand(c *Config) []string {
	if len(c.ExecuteCommand) == 0 {
		return DefaultExecuteCommand
	}
	return c.ExecuteCommand
}

// expand substitutes the {{.Vars}} and {{.Script}} placeholders (with or
// without spaces inside the braces, as Packer templates write them).
func expand(argv []string, vars, path string) []string {
	r := strings.NewReplacer(
		"{{.Vars}}", vars, "{{ .Vars }}", vars,
		"{{.Script}}", path, "{{ .Script }}", path,
	)
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = r.Replace(a)
	}
	return out
}

func config(cfg any) (*Config, error) {
	c, ok := cfg.(*Config)
	if !ok || c == nil {
		return nil, fmt.Errorf("shell-local: config is %T, want *shelllocal.Config", cfg)
	}
	return c, nil
}
