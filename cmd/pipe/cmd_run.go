package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/pipebuild/pipe/pipeline"
)

func newRunCmd(g *globals) *cobra.Command {
	var opts pipeline.RunOptions
	var jsonOut bool
	var manifest string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Build every stage whose inputs changed and reuse the rest",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Jobs < 0 {
				return usageError{fmt.Errorf("-j must be at least 1 (0 means the number of CPUs), got %d", opts.Jobs)}
			}
			p, err := g.load()
			if err != nil {
				return err
			}
			st, err := g.store()
			if err != nil {
				return err
			}
			defer st.Close()
			// Resolution errors (a missing script, a bad value) are config
			// errors: they are found before anything runs.
			opts.Debug = g.debugCacheHash()
			if _, err := p.Plan(cmd.Context(), st, pipeline.PlanOptions{Force: opts.Force, NoCache: opts.NoCache}); err != nil {
				return configError{err}
			}
			rep := newReporter(g, jsonOut, len(p.Nodes()))
			opts.Reporter = rep
			res, err := p.Run(cmd.Context(), st, opts)
			if err != nil {
				return usageError{err}
			}
			rep.Close()
			manifestErr := p.Manifest(res).WriteFile(manifest)
			if manifestErr != nil {
				fmt.Fprintf(g.stderr, "pipe: write manifest: %v\n", manifestErr)
			}
			if !jsonOut {
				printSummary(g, p, res)
			}
			switch {
			case res.Interrupted:
				return exitError{exitInterrupted}
			case res.Failed(), manifestErr != nil:
				// Consumers read the manifest: a run that could not write
				// it did not deliver.
				return exitError{exitFailed}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVarP(&opts.Jobs, "jobs", "j", 0, "nodes built at once (default: number of CPUs)")
	f.BoolVar(&opts.KeepGoing, "keep-going", false, "after a failure, keep building independent branches")
	f.StringSliceVar(&opts.Force, "force", nil, "rebuild these stages and their descendants")
	f.BoolVar(&opts.NoCache, "no-cache", false, "rebuild every stage")
	f.BoolVar(&jsonOut, "json", false, "print events as JSON lines")
	f.StringVar(&manifest, "manifest", "pipe-manifest.json", "where to write the run's manifest")
	return cmd
}

// closer is a reporter that may hold a live display.
type closer interface {
	pipeline.Reporter
	Close()
}

func newReporter(g *globals, jsonOut bool, total int) closer {
	switch {
	case jsonOut:
		enc := json.NewEncoder(g.stdout)
		return &plainReporter{fn: func(e pipeline.Event) { _ = enc.Encode(e) }}
	case isTerminal(g.stdout):
		return newLiveReporter(g.stdout, total)
	}
	return &plainReporter{fn: func(e pipeline.Event) { fmt.Fprintln(g.stdout, plainLine(e)) }}
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func printSummary(g *globals, p *pipeline.Pipeline, res *pipeline.Result) {
	counts := map[pipeline.Status]int{}
	for _, n := range res.Nodes {
		counts[n.Status]++
	}
	var parts []string
	for _, s := range []pipeline.Status{pipeline.StatusBuilt, pipeline.StatusCached, pipeline.StatusSkip,
		pipeline.StatusFailed, pipeline.StatusBlocked, pipeline.StatusNotRun} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	fmt.Fprintf(g.stdout, "summary: %s\n", strings.Join(parts, ", "))
	for _, n := range res.Nodes {
		if n.Err != nil && n.Status == pipeline.StatusFailed {
			fmt.Fprintf(g.stderr, "pipe: %s\n", p.Mask(n.Err.Error()))
			var se *pipeline.StepError
			if errors.As(n.Err, &se) && len(se.Tail) > 0 {
				fmt.Fprintf(g.stderr, "last lines of output:\n  %s\n", strings.Join(se.Tail, "\n  "))
			}
		}
	}
}
