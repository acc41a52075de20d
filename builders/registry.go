package builders

import (
	"fmt"
	"sort"
)

// Registry maps builder types to their implementations. It is built once,
// explicitly, by builders/all.Registry, so that the set of builders a binary
// knows is visible in one place rather than assembled by init functions.
type Registry struct {
	byType map[string]Builder
}

// NewRegistry returns a registry of bs. Two builders with the same type are a
// programming error, so NewRegistry panics on them.
func NewRegistry(bs ...Builder) *Registry {
	r := &Registry{byType: make(map[string]Builder, len(bs))}
	for _, b := range bs {
		if _, dup := r.byType[b.Type()]; dup {
			panic(fmt.Sprintf("builders: builder type %q registered twice", b.Type()))
		}
		r.byType[b.Type()] = b
	}
	return r
}

// Lookup returns the builder of type typ.
func (r *Registry) Lookup(typ string) (Builder, bool) {
	b, ok := r.byType[typ]
	return b, ok
}

// Types returns the registered types, sorted, for error messages and the
// JSON Schema.
func (r *Registry) Types() []string {
	types := make([]string, 0, len(r.byType))
	for t := range r.byType {
		types = append(types, t)
	}
	sort.Strings(types)
	return types
}
