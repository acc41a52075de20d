package main

import "github.com/spf13/cobra"

func newSchemaCmd(g *globals) *cobra.Command { return &cobra.Command{Use: "schema"} }
