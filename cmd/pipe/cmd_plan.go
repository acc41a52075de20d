package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/pipebuild/pipe/pipeline"
)

func newPlanCmd(g *globals) *cobra.Command {
	var opts pipeline.PlanOptions
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Say, for every node, whether a run would reuse it or build it, and why",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := g.load()
			if err != nil {
				return err
			}
			st, err := g.store()
			if err != nil {
				return err
			}
			defer st.Close()
			opts.Debug = g.debugCacheHash()
			plan, err := p.Plan(cmd.Context(), st, opts)
			if err != nil {
				return configError{err}
			}
			if jsonOut {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"pipeline": p.Name, "nodes": plan})
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			for _, d := range plan {
				if d.Reason == "" {
					fmt.Fprintf(tw, "%s\t%s\n", d.Node, d.Status)
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", d.Node, d.Status, d.Reason)
			}
			return tw.Flush()
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&opts.Force, "force", nil, "plan to rebuild these stages and their descendants")
	f.BoolVar(&opts.NoCache, "no-cache", false, "plan to rebuild every stage")
	f.BoolVar(&jsonOut, "json", false, "print the plan as JSON")
	return cmd
}

func newValidateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "Check the pipeline file, its variables and its expressions",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			p, err := g.load()
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%s: pipeline %q is valid: %d stages, %d nodes\n", g.file, p.Name, p.File.Stages.Len(), len(p.Nodes()))
			return nil
		},
	}
}

func newGraphCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "graph",
		Short: "Print the node graph as text, Graphviz dot or Mermaid",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			p, err := g.load()
			if err != nil {
				return err
			}
			switch format {
			case "text":
				printTextGraph(g, p)
			case "dot":
				printDot(g, p)
			case "mermaid":
				printMermaid(g, p)
			default:
				return usageError{fmt.Errorf("--format: unknown format %q (text, dot or mermaid)", format)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "text, dot or mermaid")
	return cmd
}

func printTextGraph(g *globals, p *pipeline.Pipeline) {
	var walk func(n *pipeline.Node, depth int)
	walk = func(n *pipeline.Node, depth int) {
		fmt.Fprintf(g.stdout, "%s%s\n", strings.Repeat("  ", depth), n.Name)
		for _, d := range n.Down {
			walk(d, depth+1)
		}
	}
	for _, n := range p.Nodes() {
		if n.Up == nil {
			walk(n, 0)
		}
	}
}

func printDot(g *globals, p *pipeline.Pipeline) {
	fmt.Fprintf(g.stdout, "digraph %q {\n  rankdir=LR;\n", p.Name)
	for _, n := range p.Nodes() {
		fmt.Fprintf(g.stdout, "  %q;\n", n.Name)
	}
	for _, n := range p.Nodes() {
		if n.Up != nil {
			fmt.Fprintf(g.stdout, "  %q -> %q;\n", n.Up.Name, n.Name)
		}
	}
	fmt.Fprintln(g.stdout, "}")
}

func printMermaid(g *globals, p *pipeline.Pipeline) {
	id := func(n *pipeline.Node) string {
		return strings.NewReplacer("@", "_at_", "-", "_", ".", "_").Replace(n.Name)
	}
	fmt.Fprintln(g.stdout, "graph LR")
	for _, n := range p.Nodes() {
		fmt.Fprintf(g.stdout, "  %s[\"%s\"]\n", id(n), n.Name)
	}
	for _, n := range p.Nodes() {
		if n.Up != nil {
			fmt.Fprintf(g.stdout, "  %s --> %s\n", id(n.Up), id(n))
		}
	}
}
