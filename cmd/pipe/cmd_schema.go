package main

import (
	"github.com/pipebuild/pipe/builders"
	"github.com/spf13/cobra"

	"github.com/pipebuild/pipe/builders/all"
	"github.com/pipebuild/pipe/schema"
	stagesall "github.com/pipebuild/pipe/stages/all"
)

func newSchemaCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the pipeline file",
		Long: "Print the JSON Schema (draft 2020-12) of the pipeline file, for editors and linters.\n" +
			"It covers the builders and provisioners this binary knows.",
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := g.stdout.Write(schema.JSON)
			return err
		},
	}
}

// kinds lists the builder and provisioner types of the registries, for
// schema.Generate.
func kinds() schema.Kinds {
	var k schema.Kinds
	br := all.Registry()
	for _, t := range br.Types() {
		b, _ := br.Lookup(t)
		bk := schema.BuilderKind{Type: t, Config: b.NewConfig(), Source: b.NewSource()}
		if ob, ok := b.(builders.OutputBuilder); ok {
			bk.Output = ob.NewOutput()
		}
		k.Builders = append(k.Builders, bk)
	}
	pr := stagesall.Registry()
	for _, t := range pr.Types() {
		p, _ := pr.Lookup(t)
		k.Provisioners = append(k.Provisioners, schema.ProvisionerKind{Type: t, Config: p.NewConfig()})
	}
	return k
}
