package stages

import (
	"fmt"
	"sort"
)

// Registry maps provisioner types to their implementations. It is built once,
// explicitly, by stages/all.Registry, so that the set of provisioners a binary
// knows is visible in one place rather than assembled by init functions.
type Registry struct {
	byType map[string]Provisioner
}

// NewRegistry returns a registry of ps. Two provisioners with the same type
// are a programming error, so NewRegistry panics on them.
func NewRegistry(ps ...Provisioner) *Registry {
	r := &Registry{byType: make(map[string]Provisioner, len(ps))}
	for _, p := range ps {
		if _, dup := r.byType[p.Type()]; dup {
			panic(fmt.Sprintf("stages: provisioner type %q registered twice", p.Type()))
		}
		r.byType[p.Type()] = p
	}
	return r
}

// Lookup returns the provisioner of type typ.
func (r *Registry) Lookup(typ string) (Provisioner, bool) {
	p, ok := r.byType[typ]
	return p, ok
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
