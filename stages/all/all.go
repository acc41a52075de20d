// Package all lists every provisioner pipe knows. It is the one place where
// concrete provisioners meet the scheduler's registry.
package all

import (
	"github.com/pipebuild/pipe/stages"
	"github.com/pipebuild/pipe/stages/file"
	"github.com/pipebuild/pipe/stages/shell"
	"github.com/pipebuild/pipe/stages/shelllocal"
)

// Registry returns a registry of every provisioner.
func Registry() *stages.Registry {
	return stages.NewRegistry(
		file.New(),
		shell.New(),
		shelllocal.New(),
	)
}
