package pipeline

import (
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/pipebuild/pipe/schema"
)

// VarInputs are the places variable values come from, lowest precedence
// first: defaults, PIPE_VAR_<name> in Environ, VarFiles in order, Vars.
type VarInputs struct {
	Environ  []string // KEY=VALUE; os.Environ() when nil
	VarFiles []string // YAML files of name: value
	Vars     []string // name=value from --var
}

var varTypes = []string{"string", "number", "bool", "list", "map"}

// resolveVars computes every variable's value and reports all missing,
// undeclared and mistyped values at once.
func resolveVars(f *schema.File, in VarInputs) (map[string]any, error) {
	var errs schema.Errors
	vals := map[string]any{}
	for _, name := range f.Variables.Keys {
		v := f.Variables.Values[name]
		if v.Type == "" {
			v.Type = "string"
		}
		if !contains(varTypes, v.Type) {
			errs.Add(v.Pos, "variable %q: unknown type %q (one of %s)%s", name, v.Type, strings.Join(varTypes, ", "), suggest(v.Type, varTypes))
			continue
		}
		if v.HasDefault && v.Default != nil {
			val, err := convertVarOf(v, v.Default)
			if err != nil {
				errs.Add(v.Pos, "variable %q: default: %v", name, err)
				vals[name] = nil
				continue
			}
			vals[name] = val
		}
	}
	environ := in.Environ
	if environ == nil {
		environ = os.Environ()
	}
	for _, kv := range environ {
		k, val, _ := strings.Cut(kv, "=")
		name, ok := strings.CutPrefix(k, "PIPE_VAR_")
		v, declared := f.Variables.Get(name)
		if !ok || !declared {
			continue // an undeclared PIPE_VAR_ may be meant for another pipeline
		}
		setFromText(vals, name, v, val, schema.Pos{File: "environment " + k}, &errs)
	}
	for _, path := range in.VarFiles {
		readVarFile(f, path, vals, &errs)
	}
	for _, kv := range in.Vars {
		name, val, ok := strings.Cut(kv, "=")
		pos := schema.Pos{File: "--var " + name}
		v, declared := f.Variables.Get(name)
		switch {
		case !ok:
			errs.Add(schema.Pos{File: "--var"}, "%q is not name=value", kv)
		case !declared:
			errs.Add(pos, "undeclared variable %q%s", name, suggest(name, f.Variables.Keys))
		default:
			setFromText(vals, name, v, val, pos, &errs)
		}
	}
	var missing []string
	for _, name := range f.Variables.Keys {
		if _, ok := vals[name]; !ok && contains(varTypes, f.Variables.Values[name].Type) {
			missing = append(missing, name)
			errs.Add(f.Variables.Values[name].Pos, "variable %q has no value: set it with --var %s=…, a --var-file or PIPE_VAR_%s", name, name, name)
		}
	}
	return vals, errs.Err()
}

// setFromText parses a command-line or environment value: strings as they
// are, everything else as YAML flow syntax.
func setFromText(vals map[string]any, name string, v *schema.Variable, text string, pos schema.Pos, errs *schema.Errors) {
	var raw any = text
	if v.Type != "string" {
		if err := yaml.Unmarshal([]byte(text), &raw); err != nil {
			shown := strconv.Quote(text)
			if v.Sensitive {
				shown = "the value"
			}
			errs.Add(pos, "variable %q: cannot parse %s as %s", name, shown, v.Type)
			vals[name] = nil // given, though bad: not also "has no value"
			return
		}
	}
	val, err := convertVarOf(v, raw)
	if err != nil {
		errs.Add(pos, "variable %q: %v", name, err)
		vals[name] = nil
		return
	}
	vals[name] = val
}

func readVarFile(f *schema.File, path string, vals map[string]any, errs *schema.Errors) {
	src, err := os.ReadFile(path)
	if err != nil {
		errs.Add(schema.Pos{File: path}, "cannot read var file: %v", err)
		return
	}
	af, err := parser.ParseBytes(src, 0)
	if err != nil {
		// goccy's message quotes the offending source line, which may
		// hold a secret: keep the position and the message only.
		errs.Append(schema.Pos{File: path}, schema.SyntaxError(path, err))
		return
	}
	if len(af.Docs) == 0 || af.Docs[0].Body == nil {
		return
	}
	m, ok := af.Docs[0].Body.(*ast.MappingNode)
	if !ok {
		errs.Add(schema.NodePos(path, af.Docs[0].Body), "a var file is a mapping of variable names to values")
		return
	}
	for _, kv := range m.Values {
		name := kv.Key.String()
		pos := schema.NodePos(path, kv.Key)
		v, declared := f.Variables.Get(name)
		if !declared {
			errs.Add(pos, "undeclared variable %q%s", name, suggest(name, f.Variables.Keys))
			continue
		}
		var raw any
		if err := yaml.NodeToValue(kv.Value, &raw); err != nil {
			errs.Add(pos, "variable %q: %v", name, err)
			continue
		}
		val, err := convertVarOf(v, raw)
		if err != nil {
			errs.Add(schema.NodePos(path, kv.Value), "variable %q: %v", name, err)
			vals[name] = nil
			continue
		}
		vals[name] = val
	}
}

// convertVarOf converts a value for variable v; the error of a sensitive
// variable does not show the value.
func convertVarOf(v *schema.Variable, raw any) (any, error) {
	val, err := convertVar(v.Type, raw)
	if err != nil && v.Sensitive {
		return nil, fmt.Errorf("expected a %s (value not shown: the variable is sensitive)", v.Type)
	}
	return val, err
}

// convertVar checks raw against a declared type and normalises it: numbers
// become float64, lists []any, maps map[string]any.
func convertVar(typ string, raw any) (any, error) {
	switch typ {
	case "string":
		switch t := raw.(type) {
		case string:
			return t, nil
		case bool, int, int64, uint64, float64:
			return fmt.Sprint(t), nil
		}
	case "number":
		switch t := raw.(type) {
		case int:
			return float64(t), nil
		case int64:
			return float64(t), nil
		case uint64:
			return float64(t), nil
		case float64:
			if !math.IsNaN(t) {
				return t, nil
			}
		case string:
			if f, err := strconv.ParseFloat(t, 64); err == nil {
				return f, nil
			}
		}
	case "bool":
		switch t := raw.(type) {
		case bool:
			return t, nil
		case string:
			if b, err := strconv.ParseBool(t); err == nil {
				return b, nil
			}
		}
	case "list":
		if l, ok := raw.([]any); ok {
			return l, nil
		}
	case "map":
		switch t := raw.(type) {
		case map[string]any:
			return t, nil
		case map[any]any:
			out := map[string]any{}
			for k, v := range t {
				out[fmt.Sprint(k)] = v
			}
			return out, nil
		}
	}
	return nil, fmt.Errorf("expected a %s, got %s", typ, describeValue(raw))
}

func describeValue(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(t)
	case []any:
		return "a list"
	case map[string]any, map[any]any:
		return "a map"
	}
	return fmt.Sprint(v)
}

// secretForms returns every string under which a sensitive value may show:
// its rendering, that of each list element and map value (recursively),
// and each line of a multi-line one, since output is masked line by line.
func secretForms(v any) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		s := render(v)
		out = append(out, s)
		if strings.Contains(s, "\n") {
			for _, line := range strings.Split(s, "\n") {
				out = append(out, strings.TrimSpace(line))
			}
		}
		switch t := v.(type) {
		case []any:
			for _, e := range t {
				walk(e)
			}
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(t)) {
				walk(t[k])
			}
		}
	}
	walk(v)
	return out
}

// minMasked is the shortest sensitive value that is masked in output.
// Masking a shorter one ("t") would garble every line and, by the pattern
// of the stars, reveal the value anyway.
const minMasked = 4

// sensitiveValues returns the string forms of every sensitive variable's
// value, longest first, for masking, and warnings for values too short to
// mask.
func sensitiveValues(f *schema.File, vals map[string]any) (masked, all, warnings []string) {
	var out, short []string
	for _, name := range f.Variables.Keys {
		if !f.Variables.Values[name].Sensitive {
			continue
		}
		for _, s := range secretForms(vals[name]) {
			if s != "" {
				all = append(all, s)
			}
			switch {
			case s == "":
			case len(s) < minMasked:
				short = append(short, fmt.Sprintf("sensitive variable %q has a value shorter than %d characters: it is kept out of cache keys but cannot be masked in output", name, minMasked))
			default:
				out = append(out, s)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out, all, dedupe(short)
}

func suggest(s string, candidates []string) string {
	if m := schema.Suggest(s, candidates); m != "" {
		return fmt.Sprintf(" (did you mean %q?)", m)
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
