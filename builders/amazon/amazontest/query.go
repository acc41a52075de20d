package amazontest

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// args is the decoded form of one Query request. EC2 flattens lists as
// Name.1, Name.2, … and structures as Name.1.Field, which List and Structs
// undo.
type args url.Values

// Str returns the value of key, or "".
func (a args) Str(key string) string { return url.Values(a).Get(key) }

// Has reports whether key was sent.
func (a args) Has(key string) bool { _, ok := a[key]; return ok }

// Bool returns key as a boolean (false when absent).
func (a args) Bool(key string) bool { return strings.EqualFold(a.Str(key), "true") }

// Int returns key as an integer, def when absent or malformed.
func (a args) Int(key string, def int) int {
	n, err := strconv.Atoi(a.Str(key))
	if err != nil {
		return def
	}
	return n
}

// indexed groups the keys below prefix by their list index: for prefix
// "Filter", "Filter.2.Name" lands in group 2 under "Name". Groups come back
// ordered by index.
func (a args) indexed(prefix string) []args {
	groups := map[int]args{}
	for k, vs := range a {
		rest, ok := strings.CutPrefix(k, prefix+".")
		if !ok {
			continue
		}
		num, field, _ := strings.Cut(rest, ".")
		n, err := strconv.Atoi(num)
		if err != nil {
			continue
		}
		g := groups[n]
		if g == nil {
			g = args{}
			groups[n] = g
		}
		g[field] = vs
	}
	idx := make([]int, 0, len(groups))
	for n := range groups {
		idx = append(idx, n)
	}
	sort.Ints(idx)
	out := make([]args, 0, len(idx))
	for _, n := range idx {
		out = append(out, groups[n])
	}
	return out
}

// List returns the scalar list prefix.1, prefix.2, ….
func (a args) List(prefix string) []string {
	var out []string
	for _, g := range a.indexed(prefix) {
		if v, ok := g[""]; ok && len(v) > 0 {
			out = append(out, v[0])
		}
	}
	return out
}

// Structs returns the structure list prefix.N.Field as one args per N.
func (a args) Structs(prefix string) []args { return a.indexed(prefix) }

// Sub returns the fields of the structure prefix.Field as an args.
func (a args) Sub(prefix string) args {
	out := args{}
	for k, vs := range a {
		if rest, ok := strings.CutPrefix(k, prefix+"."); ok {
			out[rest] = vs
		}
	}
	return out
}

// tagSpecs returns the tags of the TagSpecification list for resourceType.
func (a args) tagSpecs(resourceType string) map[string]string {
	tags := map[string]string{}
	for _, spec := range a.Structs("TagSpecification") {
		if spec.Str("ResourceType") != resourceType {
			continue
		}
		for _, t := range spec.Structs("Tag") {
			tags[t.Str("Key")] = t.Str("Value")
		}
	}
	return tags
}

// tagSpecTypes lists the resource types named in TagSpecification.
func (a args) tagSpecTypes() []string {
	var out []string
	for _, spec := range a.Structs("TagSpecification") {
		out = append(out, spec.Str("ResourceType"))
	}
	return out
}
