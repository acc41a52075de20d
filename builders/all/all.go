// Package all lists every builder pipe knows. It is the one place where
// concrete builders meet the scheduler's registry.
package all

import (
	"github.com/pipebuild/pipe/builders"
	"github.com/pipebuild/pipe/builders/amazon"
	"github.com/pipebuild/pipe/builders/local"
	"github.com/pipebuild/pipe/builders/null"
)

// Registry returns a registry of every builder.
func Registry() *builders.Registry {
	return builders.NewRegistry(
		amazon.New(),
		local.New(),
		null.New(),
	)
}
