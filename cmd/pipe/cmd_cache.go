package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/pipebuild/pipe/builders"
	"github.com/pipebuild/pipe/builders/all"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pipebuild/pipe/pipeline"
	"github.com/pipebuild/pipe/pipeline/cache"
	"github.com/pipebuild/pipe/schema"
)

func newCacheCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "List, show and prune cache records",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return usageError{fmt.Errorf("cache needs a subcommand: ls, show or prune")}
		},
	}
	var all bool
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List the records of this pipeline (or of all with --all)",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			st, pipe, err := g.cacheScope(all)
			if err != nil {
				return err
			}
			defer st.Close()
			recs, err := st.List(pipe)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PIPELINE\tNODE\tACTION\tOUTPUT\tCREATED")
			for _, r := range recs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Pipeline, r.Node, short(string(r.ActionID)), short(r.OutputID), r.Created.Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	ls.Flags().BoolVar(&all, "all", false, "list every pipeline's records")
	show := &cobra.Command{
		Use:   "show NODE",
		Short: "Show a node's latest record: key lines, artifact and parent",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			st, pipe, err := g.cacheScope(false)
			if err != nil {
				return err
			}
			defer st.Close()
			node := args[0]
			if !strings.Contains(node, "@") {
				return usageError{fmt.Errorf("name a node as stage@builder, got %q", node)}
			}
			r, err := st.Latest(pipe, node)
			if err != nil {
				return fmt.Errorf("%s: %w", node, err)
			}
			fmt.Fprintf(g.stdout, "node:      %s\npipeline:  %s\naction:    %s\noutput:    %s\nbuilder:   %s\ncreated:   %s\nduration:  %s\n",
				r.Node, r.Pipeline, r.ActionID, r.OutputID, r.Builder, r.Created.Format(time.RFC3339), r.Duration.Round(time.Millisecond))
			if r.Parent != "" {
				fmt.Fprintf(g.stdout, "parent:    %s (%s)\n", r.Parent, r.ParentAction)
			}
			fmt.Fprintf(g.stdout, "artifact:  %s\nkey lines:\n", r.Artifact)
			for _, l := range r.Lines {
				fmt.Fprintf(g.stdout, "  %s\n", l)
			}
			return nil
		},
	}
	var opts cache.PruneOptions
	var olderThan string
	var keepArtifacts bool
	prune := &cobra.Command{
		Use:   "prune",
		Short: "Remove old records: keep the newest N per node, or drop those older than D",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if olderThan != "" {
				var d schema.Duration
				if err := d.UnmarshalText([]byte(olderThan)); err != nil {
					return usageError{fmt.Errorf("--older-than: %w", err)}
				}
				opts.OlderThan = time.Duration(d)
			}
			if opts.Keep == 0 && opts.OlderThan == 0 {
				return usageError{fmt.Errorf("prune needs --keep N or --older-than D")}
			}
			st, pipe, err := g.cacheScope(all)
			if err != nil {
				return err
			}
			defer st.Close()
			opts.Pipeline = pipe
			removed, err := st.Prune(opts)
			if err != nil {
				return err
			}
			verb := "removed"
			if opts.DryRun {
				verb = "would remove"
			}
			for _, r := range removed {
				fmt.Fprintf(g.stdout, "%s %s/%s %s\n", verb, r.Pipeline, r.Node, short(string(r.ActionID)))
			}
			fmt.Fprintf(g.stdout, "%s %d records\n", verb, len(removed))
			if keepArtifacts {
				return nil
			}
			return pruneArtifacts(cmd, g, st, removed, opts.DryRun)
		},
	}
	prune.Flags().IntVar(&opts.Keep, "keep", 0, "keep the newest N records of each node")
	prune.Flags().StringVar(&olderThan, "older-than", "", "remove records older than this (e.g. 720h, 30d)")
	prune.Flags().BoolVar(&opts.DryRun, "dry-run", false, "print what would be removed")
	prune.Flags().BoolVar(&all, "all", false, "prune every pipeline's records")
	prune.Flags().BoolVar(&keepArtifacts, "keep-artifacts", false, "remove records only, not the cloud images they name")
	cmd.AddCommand(ls, show, prune)
	return cmd
}

// cacheScope opens the store and names the pipeline whose records a cache
// command works on: the pipeline file's, or every pipeline with all.
func (g *globals) cacheScope(all bool) (*cache.Store, string, error) {
	pipe := ""
	if _, err := os.Stat(g.file); !all && os.IsNotExist(err) && g.file == "pipe.yaml" {
		all = true // no pipeline here: every pipeline's records
	}
	if !all {
		f, err := schema.Load(g.file)
		if err != nil {
			return nil, "", configError{err}
		}
		pipe = pipeline.DefaultName(f)
	}
	st, err := g.store()
	return st, pipe, err
}

// pruneArtifacts deletes the cloud images of pruned records that no kept
// record names (AMIs and their snapshots), through builders that can.
func pruneArtifacts(cmd *cobra.Command, g *globals, st *cache.Store, removed []*cache.Record, dryRun bool) error {
	// With --dry-run the pruned records are still there: leave them out.
	gone := map[cache.ActionID]bool{}
	for _, r := range removed {
		gone[r.ActionID] = true
	}
	keep, err := keepFunc(st, gone)
	if err != nil {
		return err
	}
	reg := all.Registry()
	verb := map[bool]string{true: "would delete", false: "deleted"}[dryRun]
	var errs []error
	for _, r := range removed {
		var a builders.Artifact
		if json.Unmarshal(r.Artifact, &a) != nil || a.OutputID == "" || keep(builders.Resource{ID: a.OutputID}) {
			continue
		}
		b, _ := reg.Lookup(a.Builder)
		p, ok := b.(builders.Pruner)
		if !ok {
			continue
		}
		found, err := p.Prune(cmd.Context(), &a, dryRun)
		if found && err == nil {
			fmt.Fprintf(g.stdout, "%s %s image %s\n", verb, a.Builder, a.ID)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func short(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
