package main

import (
	"strings"

	"encoding/json"
	"errors"
	"fmt"
	"github.com/pipebuild/pipe/pipeline/cache"
	"os"

	"github.com/spf13/cobra"

	"github.com/pipebuild/pipe/builders"
	"github.com/pipebuild/pipe/builders/all"
)

func newCleanupCmd(g *globals) *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Delete the temporary cloud resources that killed runs left behind",
		Long: `cleanup reads the ledgers of runs that are no longer alive and deletes every
temporary resource they list (instances, key pairs, security groups,
intermediate images). With a pipeline file present, it also asks each of its
cloud builders for resources tagged pipe:temporary by runs that are not alive.
It never deletes an image that a cache record references.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := g.store()
			if err != nil {
				return err
			}
			defer st.Close()
			runs, err := st.Runs()
			if err != nil {
				return err
			}
			reg := all.Registry()
			keep, err := keepFunc(st, nil)
			if err != nil {
				return err
			}
			var errs []error
			verb := map[bool]string{true: "would delete", false: "deleted"}[dryRun]
			// A dead run's resource is listed by its ledger and found
			// again by the tag sweep: say it once.
			printed := map[string]bool{}
			for _, run := range runs {
				if run.Alive {
					continue
				}
				done, err := cleanRun(cmd, reg, run.Outstanding, keep, dryRun)
				for _, r := range done {
					if !printed[resourceLine(r)] {
						printed[resourceLine(r)] = true
						fmt.Fprintf(g.stdout, "%s %s (run %s)\n", verb, resourceLine(r), run.ID)
					}
				}
				if err != nil {
					errs = append(errs, fmt.Errorf("run %s: %w", run.ID, err))
					continue
				}
				if !dryRun {
					if err := st.RemoveRun(run.ID); err != nil {
						errs = append(errs, err)
					}
				}
			}
			errs = append(errs, g.sweep(cmd, reg, keep, dryRun, verb, printed)...)
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print what would be deleted")
	return cmd
}

// cleanRun hands a dead run's outstanding resources to their builders.
func cleanRun(cmd *cobra.Command, reg *builders.Registry, entries []json.RawMessage, keep func(builders.Resource) bool, dryRun bool) ([]builders.Resource, error) {
	byBuilder := map[string][]builders.Resource{}
	var order []string
	for _, e := range entries {
		var r builders.Resource
		if err := json.Unmarshal(e, &r); err != nil {
			return nil, fmt.Errorf("ledger entry %s: %w", e, err)
		}
		if r.ID != "" && keep(builders.Resource{ID: r.ID}) {
			continue // became a cached artifact after all
		}
		if _, seen := byBuilder[r.Builder]; !seen {
			order = append(order, r.Builder)
		}
		byBuilder[r.Builder] = append(byBuilder[r.Builder], r)
	}
	var done []builders.Resource
	var errs []error
	for _, typ := range order {
		b, ok := reg.Lookup(typ)
		c, isCleaner := b.(builders.Cleaner)
		if !ok || !isCleaner {
			errs = append(errs, fmt.Errorf("builder %q cannot clean up its resources", typ))
			continue
		}
		d, err := c.Clean(cmd.Context(), byBuilder[typ], dryRun)
		done = append(done, d...)
		errs = append(errs, err)
	}
	return done, errors.Join(errs...)
}

// sweep asks the cloud builders of the pipeline file, if there is one, for
// temporary resources of runs that are not alive.
func (g *globals) sweep(cmd *cobra.Command, reg *builders.Registry, keep func(builders.Resource) bool, dryRun bool, verb string, printed map[string]bool) []error {
	if _, err := os.Stat(g.file); err != nil {
		return nil
	}
	p, err := g.load()
	if err != nil {
		return []error{err}
	}
	var errs []error
	seen := map[string]bool{}
	for _, n := range p.Nodes() {
		c, ok := n.Builder.(builders.Cleaner)
		if !ok || seen[n.BuilderName] {
			continue
		}
		seen[n.BuilderName] = true
		cfg, err := p.BuilderConfig(n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		done, err := c.Sweep(cmd.Context(), cfg, keep, dryRun)
		for _, r := range done {
			if !printed[resourceLine(r)] {
				printed[resourceLine(r)] = true
				fmt.Fprintf(g.stdout, "%s %s (tagged temporary)\n", verb, resourceLine(r))
			}
		}
		errs = append(errs, err)
	}
	return errs
}

// keepFunc says which resources cleanup must leave alone: those of runs
// still alive, and every id that a cache record's artifact names (an AMI
// whose record was written before its run was killed is a cached image,
// not a leftover).
// Records in exclude (about to be pruned) do not count.
func keepFunc(st *cache.Store, exclude map[cache.ActionID]bool) (func(builders.Resource) bool, error) {
	recs, err := st.List("")
	if err != nil {
		return nil, err
	}
	referenced := map[string]bool{}
	for _, r := range recs {
		if exclude[r.ActionID] {
			continue
		}
		var a builders.Artifact
		if json.Unmarshal(r.Artifact, &a) != nil {
			continue
		}
		referenced[a.OutputID] = true
		for _, v := range a.Data {
			for _, id := range strings.Split(v, ",") {
				referenced[id] = true
			}
		}
	}
	return func(r builders.Resource) bool {
		return referenced[r.ID] || (r.Run != "" && st.RunAlive(r.Run))
	}, nil
}

// resourceLine names a resource for cleanup's output.
func resourceLine(r builders.Resource) string {
	return fmt.Sprintf("%s %s %s %s", r.Builder, r.Region, r.Kind, firstNonEmpty(r.ID, r.Name))
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
