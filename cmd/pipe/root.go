package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pipebuild/pipe/builders/all"
	"github.com/pipebuild/pipe/pipeline"
	"github.com/pipebuild/pipe/pipeline/cache"
	stagesall "github.com/pipebuild/pipe/stages/all"
)

// version is set at link time.
var version = "dev"

// globals are the flags every pipeline command shares.
type globals struct {
	file     string
	vars     []string
	varFiles []string
	cacheDir string
	only     []string
	stdout   io.Writer
	stderr   io.Writer
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	g := &globals{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "pipe",
		Short:         "Build machine images as a cached DAG of layered stages",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVarP(&g.file, "file", "f", "pipe.yaml", "pipeline file")
	pf.StringArrayVar(&g.vars, "var", nil, "set a variable: name=value (repeatable)")
	pf.StringArrayVar(&g.varFiles, "var-file", nil, "read variables from a YAML file (repeatable)")
	pf.StringVar(&g.cacheDir, "cache-dir", "", "cache store (default $PIPE_CACHE_DIR, /var/lib/pipe as root, else $XDG_CACHE_HOME/pipe)")
	pf.StringSliceVar(&g.only, "only", nil, "only these stages and their ancestors (comma-separated)")
	root.AddCommand(
		newRunCmd(g), newPlanCmd(g), newValidateCmd(g), newGraphCmd(g),
		newCacheCmd(g), newCleanupCmd(g), newSchemaCmd(g), newVersionCmd(g),
		newImportCmd(g),
	)
	return root
}

// load reads and validates the pipeline with the command's flags.
func (g *globals) load() (*pipeline.Pipeline, error) {
	opts := pipeline.Options{
		File:         g.file,
		Inputs:       pipeline.VarInputs{Vars: g.vars, VarFiles: g.varFiles, Environ: os.Environ()},
		Builders:     all.Registry(),
		Provisioners: stagesall.Registry(),
		Only:         g.only,
	}
	p, err := pipeline.Load(opts)
	if err != nil {
		return nil, configError{err}
	}
	for _, w := range p.Warnings {
		fmt.Fprintf(g.stderr, "pipe: warning: %s\n", w)
	}
	return p, nil
}

// store opens the cache store named by the flags and environment.
func (g *globals) store() (*cache.Store, error) {
	st, err := cache.Open(cache.ResolveDir(g.cacheDir))
	if err != nil {
		return nil, fmt.Errorf("open cache store: %w", err)
	}
	return st, nil
}

// debugCacheHash returns a printer of key lines when PIPE_DEBUG has
// cachehash=1.
func (g *globals) debugCacheHash() func(string, []cache.Line) {
	for _, kv := range strings.Split(os.Getenv("PIPE_DEBUG"), ",") {
		if kv == "cachehash=1" {
			return func(node string, lines []cache.Line) {
				for _, l := range lines {
					fmt.Fprintf(g.stderr, "cachehash %s: %s\n", node, l)
				}
			}
		}
	}
	return nil
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print pipe's version",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintf(g.stdout, "pipe %s (%s)\n", version, cache.Version)
			return nil
		},
	}
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("%s takes no arguments, got %q", cmd.CommandPath(), args)}
	}
	return nil
}
