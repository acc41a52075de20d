package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pipebuild/pipe/schema/packer"
)

func newImportCmd(g *globals) *cobra.Command {
	var out string
	var strict bool
	var report bool
	cmd := &cobra.Command{
		Use:   "import PATH [-o pipe.yaml] | --report DIR...",
		Short: "Translate a Packer template (HCL2 file, directory, or legacy JSON) into a pipeline file",
		Long: `Translate a Packer template into a pipeline file.

PATH is a *.pkr.hcl file, a directory (its *.pkr.hcl and *.auto.pkrvars.hcl
are merged as Packer does) or a legacy JSON template. --var and --var-file
(.hcl or .json) give Packer variable values: precedence, lowest first, is the
default, PKR_VAR_<name>, *.auto.pkrvars.*, --var-file in order, then --var.
Given values become the variables' defaults; sensitive values are never
written. Every template attribute either maps or yields a warning, printed as
file:line:col: warning: ... and kept as a comment in the YAML.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{errors.New("import needs a template path")}
			}
			if report {
				return importReport(g, args)
			}
			if len(args) != 1 {
				return usageError{fmt.Errorf("import takes one template path, got %q", args)}
			}
			vars := map[string]string{}
			for _, kv := range g.vars {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return usageError{fmt.Errorf("--var %q: want name=value", kv)}
				}
				vars[k] = v
			}
			opts := packer.Options{Vars: vars, VarFiles: g.varFiles, Environ: os.Environ()}
			if out != "" {
				if rel, err := filepath.Rel(filepath.Dir(out), templateDir(args[0])); err == nil {
					opts.Root = filepath.ToSlash(rel)
				}
			} else if rel, err := filepath.Rel(".", templateDir(args[0])); err == nil {
				opts.Root = filepath.ToSlash(rel)
			}
			r, err := packer.Import(args[0], opts)
			if err != nil {
				return configError{err}
			}
			for _, w := range r.Warnings {
				fmt.Fprintln(g.stderr, w)
			}
			if strict && len(r.Warnings) > 0 {
				return configError{fmt.Errorf("--strict: %d warnings", len(r.Warnings))}
			}
			if out == "" {
				_, err := g.stdout.Write(r.YAML())
				return err
			}
			return os.WriteFile(out, r.YAML(), 0o644)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "output", "o", "", "write the pipeline file here (default: stdout)")
	f.BoolVar(&strict, "strict", false, "treat warnings as errors")
	f.BoolVar(&report, "report", false, "print, per template or corpus case directory given, its builders, stages and warnings by kind")
	return cmd
}

func templateDir(p string) string {
	if fi, err := os.Stat(p); err == nil && fi.IsDir() {
		return p
	}
	return filepath.Dir(p)
}

// importReport imports each path (a case directory holding one template
// file is imported as that file) and prints a summary.
func importReport(g *globals, paths []string) error {
	failed := 0
	for _, p := range paths {
		path := reportPath(p)
		r, err := packer.Import(path, packer.Options{})
		if err != nil {
			failed++
			fmt.Fprintf(g.stdout, "%s: error: %v\n", p, err)
			continue
		}
		m, w, t := r.Counts()
		fmt.Fprintf(g.stdout, "%s:\n", p)
		var bs []string
		for _, b := range r.Builders {
			bs = append(bs, b.Name+" ("+b.Type+")")
		}
		var ss []string
		for _, s := range r.Stages {
			ss = append(ss, fmt.Sprintf("%s [%s] %d steps", s.Name, strings.Join(s.Builders, ","), len(s.Provision)))
		}
		fmt.Fprintf(g.stdout, "  builders: %s\n  stages: %s\n", strings.Join(bs, ", "), strings.Join(ss, "; "))
		fmt.Fprintf(g.stdout, "  attributes: %d mapped, %d warned, %d total\n  warnings:", m, w, t)
		byKind := r.WarningsByKind()
		for _, k := range r.Kinds() {
			fmt.Fprintf(g.stdout, " %s=%d", k, byKind[k])
		}
		fmt.Fprintln(g.stdout)
	}
	if failed > 0 {
		return configError{fmt.Errorf("%d of %d templates failed to import", failed, len(paths))}
	}
	return nil
}

func reportPath(dir string) string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return dir
	}
	var hcls, jsons []string
	for _, e := range ents {
		switch {
		case strings.HasSuffix(e.Name(), ".pkr.hcl"):
			hcls = append(hcls, e.Name())
		case strings.HasSuffix(e.Name(), ".json"):
			jsons = append(jsons, e.Name())
		}
	}
	if len(hcls) == 0 && len(jsons) == 1 {
		return filepath.Join(dir, jsons[0])
	}
	return dir
}
