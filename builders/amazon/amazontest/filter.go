package amazontest

import (
	"regexp"
	"sort"
	"strings"
)

// filter is one Filter.N of a Describe call: the resource matches when any
// of its values for Name matches any of Values (with * and ? wildcards).
type filter struct {
	name   string
	values []string
}

func parseFilters(a args) []filter {
	var out []filter
	for _, f := range a.Structs("Filter") {
		out = append(out, filter{name: f.Str("Name"), values: f.List("Value")})
	}
	return out
}

// fieldFunc returns a resource's values for a filter name, and whether the
// name is a filter that resource type knows.
type fieldFunc func(name string) ([]string, bool)

// checkFilters rejects filter names the resource type does not know, the
// way EC2 does ("The filter 'x' is invalid").
func checkFilters(fs []filter, known map[string][]string) *apiError {
	for _, f := range fs {
		if isTagFilter(f.name) {
			continue
		}
		if _, ok := known[f.name]; !ok {
			return errInvalid("The filter '%s' is invalid", f.name)
		}
	}
	return nil
}

func isTagFilter(name string) bool {
	return strings.HasPrefix(name, "tag:") || name == "tag-key" || name == "tag-value"
}

// matchFilters reports whether a resource with these fields and tags
// passes every filter. Names must have been checked with checkFilters.
func matchFilters(fs []filter, fields fieldFunc, tags map[string]string) bool {
	for _, f := range fs {
		var have []string
		switch {
		case strings.HasPrefix(f.name, "tag:"):
			if v, ok := tags[strings.TrimPrefix(f.name, "tag:")]; ok {
				have = []string{v}
			}
		case f.name == "tag-key":
			for k := range tags {
				have = append(have, k)
			}
		case f.name == "tag-value":
			for _, v := range tags {
				have = append(have, v)
			}
		default:
			have, _ = fields(f.name)
		}
		if !anyMatch(f.values, have) {
			return false
		}
	}
	return true
}

func anyMatch(patterns, values []string) bool {
	for _, p := range patterns {
		for _, v := range values {
			if globMatch(p, v) {
				return true
			}
		}
	}
	return false
}

// globMatch matches EC2 filter wildcards: * is any run of characters, ? is
// one character, a backslash escapes the next character.
func globMatch(pattern, s string) bool {
	if !strings.ContainsAny(pattern, `*?\`) {
		return pattern == s
	}
	var re strings.Builder
	re.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '*':
			re.WriteString(".*")
		case '?':
			re.WriteString(".")
		case '\\':
			if i+1 < len(pattern) {
				i++
				re.WriteString(regexp.QuoteMeta(pattern[i : i+1]))
			}
		default:
			re.WriteString(regexp.QuoteMeta(pattern[i : i+1]))
		}
	}
	re.WriteString("$")
	ok, _ := regexp.MatchString(re.String(), s)
	return ok
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// fields builds a fieldFunc from a map of filter name to values.
func fields(m map[string][]string) fieldFunc {
	return func(name string) ([]string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

func one(s string) []string { return []string{s} }

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
