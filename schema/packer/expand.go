package packer

import (
	"fmt"
	"sort"
	"strings"
)

// Selection picks part of a template for an `hcl:` stage.
type Selection struct {
	// Build keeps only the stages of the Packer build of this name.
	Build string
	// Sources keeps only these sources, written "source.TYPE.NAME",
	// "TYPE.NAME" or as the builder's name.
	Sources []string
}

// Expand imports a template as Import does, then keeps only the selected
// build and sources: the stages whose builders are all dropped go, and so
// do the builders no kept stage uses. The result renders (YAML) exactly as
// `pipe import` would render that part of the template.
func Expand(path string, opts Options, sel Selection) (*Result, error) {
	r, err := Import(path, opts)
	if err != nil {
		return nil, err
	}
	if sel.Build != "" {
		var builds []string
		var kept []*Stage
		for _, s := range r.Stages {
			if s.Build == sel.Build {
				kept = append(kept, s)
			}
			if !contains(builds, s.Build) {
				builds = append(builds, s.Build)
			}
		}
		if len(kept) == 0 {
			return nil, fmt.Errorf("build %q: no such build in the template (builds: %s)", sel.Build, strings.Join(builds, ", "))
		}
		r.Stages = kept
	}
	if len(sel.Sources) > 0 {
		keep := map[string]bool{}
		for _, want := range sel.Sources {
			w := strings.TrimPrefix(want, "source.")
			found := false
			for _, b := range r.Builders {
				if b.Name == w || (b.PackerSource != "" && b.PackerSource == w) {
					keep[b.Name] = true
					found = true
				}
			}
			if !found {
				var have []string
				for _, b := range r.Builders {
					if b.PackerSource != "" {
						have = append(have, "source."+b.PackerSource)
					} else {
						have = append(have, b.Name)
					}
				}
				sort.Strings(have)
				return nil, fmt.Errorf("sources: %q is not a source of the template (sources: %s)", want, strings.Join(have, ", "))
			}
		}
		var kept []*Stage
		for _, s := range r.Stages {
			var bs []string
			for _, b := range s.Builders {
				if keep[b] {
					bs = append(bs, b)
				}
			}
			if len(bs) > 0 {
				s.Builders = bs
				kept = append(kept, s)
			}
		}
		if len(kept) == 0 {
			return nil, fmt.Errorf("sources: no stage of the selected build runs on %s", strings.Join(sel.Sources, ", "))
		}
		r.Stages = kept
	}
	used := map[string]bool{}
	for _, s := range r.Stages {
		for _, b := range s.Builders {
			used[b] = true
		}
	}
	var bs []*Builder
	for _, b := range r.Builders {
		if used[b.Name] {
			bs = append(bs, b)
		}
	}
	r.Builders = bs
	return r, nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
