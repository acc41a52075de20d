package packer

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// impure functions return unknown values at import time: their value is
// only known when the image is built, so they are translated, not folded.
var impure = map[string]bool{"timestamp": true, "uuidv4": true, "legacy_isotime": true, "legacy_strftime": true}

func strFunc(f func(string) (string, error)) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "s", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			s, err := f(args[0].AsString())
			if err != nil {
				return cty.NilVal, err
			}
			return cty.StringVal(s), nil
		},
	})
}

func unknownFunc(params int) function.Function {
	ps := make([]function.Parameter, params)
	for i := range ps {
		ps[i] = function.Parameter{Name: "a", Type: cty.DynamicPseudoType, AllowUnknown: true, AllowNull: true}
	}
	return function.New(&function.Spec{
		Params: ps,
		Type:   function.StaticReturnType(cty.String),
		Impl: func([]cty.Value, cty.Type) (cty.Value, error) {
			return cty.UnknownVal(cty.String), nil
		},
	})
}

func hashFunc(h func([]byte) string) function.Function {
	return strFunc(func(s string) (string, error) { return h([]byte(s)), nil })
}

// functions returns Packer's functions that can be evaluated at import
// time, relative to the template directory dir.
func functions(dir string) map[string]function.Function {
	rel := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	fns := map[string]function.Function{
		"abs": stdlib.AbsoluteFunc, "ceil": stdlib.CeilFunc, "chomp": stdlib.ChompFunc,
		"chunklist": stdlib.ChunklistFunc, "coalesce": stdlib.CoalesceFunc, "coalescelist": stdlib.CoalesceListFunc,
		"compact": stdlib.CompactFunc, "concat": stdlib.ConcatFunc, "contains": stdlib.ContainsFunc,
		"csvdecode": stdlib.CSVDecodeFunc, "distinct": stdlib.DistinctFunc, "element": stdlib.ElementFunc,
		"flatten": stdlib.FlattenFunc, "floor": stdlib.FloorFunc, "format": stdlib.FormatFunc,
		"formatdate": stdlib.FormatDateFunc, "formatlist": stdlib.FormatListFunc, "indent": stdlib.IndentFunc,
		"index": stdlib.IndexFunc, "join": stdlib.JoinFunc, "jsondecode": stdlib.JSONDecodeFunc,
		"jsonencode": stdlib.JSONEncodeFunc, "keys": stdlib.KeysFunc, "length": stdlib.LengthFunc,
		"log": stdlib.LogFunc, "lookup": stdlib.LookupFunc, "lower": stdlib.LowerFunc, "max": stdlib.MaxFunc,
		"merge": stdlib.MergeFunc, "min": stdlib.MinFunc, "parseint": stdlib.ParseIntFunc, "pow": stdlib.PowFunc,
		"range": stdlib.RangeFunc, "regex": stdlib.RegexFunc, "regexall": stdlib.RegexAllFunc,
		"replace": stdlib.ReplaceFunc, "regex_replace": stdlib.RegexReplaceFunc, "reverse": stdlib.ReverseListFunc,
		"setintersection": stdlib.SetIntersectionFunc, "setproduct": stdlib.SetProductFunc,
		"setunion": stdlib.SetUnionFunc, "signum": stdlib.SignumFunc, "slice": stdlib.SliceFunc,
		"sort": stdlib.SortFunc, "split": stdlib.SplitFunc, "strrev": stdlib.ReverseFunc,
		"substr": stdlib.SubstrFunc, "timeadd": stdlib.TimeAddFunc, "title": stdlib.TitleFunc,
		"trim": stdlib.TrimFunc, "trimprefix": stdlib.TrimPrefixFunc, "trimspace": stdlib.TrimSpaceFunc,
		"trimsuffix": stdlib.TrimSuffixFunc, "upper": stdlib.UpperFunc, "values": stdlib.ValuesFunc,
		"zipmap": stdlib.ZipmapFunc,
		"can":    tryfunc.CanFunc, "try": tryfunc.TryFunc,
		"startswith": function.New(&function.Spec{
			Params: []function.Parameter{{Name: "s", Type: cty.String}, {Name: "p", Type: cty.String}},
			Type:   function.StaticReturnType(cty.Bool),
			Impl: func(a []cty.Value, _ cty.Type) (cty.Value, error) {
				return cty.BoolVal(strings.HasPrefix(a[0].AsString(), a[1].AsString())), nil
			},
		}),
		"endswith": function.New(&function.Spec{
			Params: []function.Parameter{{Name: "s", Type: cty.String}, {Name: "p", Type: cty.String}},
			Type:   function.StaticReturnType(cty.Bool),
			Impl: func(a []cty.Value, _ cty.Type) (cty.Value, error) {
				return cty.BoolVal(strings.HasSuffix(a[0].AsString(), a[1].AsString())), nil
			},
		}),
		"strcontains": function.New(&function.Spec{
			Params: []function.Parameter{{Name: "s", Type: cty.String}, {Name: "p", Type: cty.String}},
			Type:   function.StaticReturnType(cty.Bool),
			Impl: func(a []cty.Value, _ cty.Type) (cty.Value, error) {
				return cty.BoolVal(strings.Contains(a[0].AsString(), a[1].AsString())), nil
			},
		}),
		"base64encode": strFunc(func(s string) (string, error) { return base64.StdEncoding.EncodeToString([]byte(s)), nil }),
		"base64decode": strFunc(func(s string) (string, error) {
			b, err := base64.StdEncoding.DecodeString(s)
			return string(b), err
		}),
		"md5":      hashFunc(func(b []byte) string { h := md5.Sum(b); return hex.EncodeToString(h[:]) }),
		"sha1":     hashFunc(func(b []byte) string { h := sha1.Sum(b); return hex.EncodeToString(h[:]) }),
		"sha256":   hashFunc(func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }),
		"sha512":   hashFunc(func(b []byte) string { h := sha512.Sum512(b); return hex.EncodeToString(h[:]) }),
		"basename": strFunc(func(s string) (string, error) { return filepath.Base(s), nil }),
		"dirname":  strFunc(func(s string) (string, error) { return filepath.Dir(s), nil }),
		"abspath":  strFunc(func(s string) (string, error) { return s, nil }),
		"file": strFunc(func(s string) (string, error) {
			b, err := os.ReadFile(rel(s))
			return string(b), err
		}),
		"timestamp":       unknownFunc(0),
		"uuidv4":          unknownFunc(0),
		"legacy_isotime":  unknownFunc(1),
		"legacy_strftime": unknownFunc(1),
	}
	fns["templatefile"] = function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}, {Name: "vars", Type: cty.DynamicPseudoType}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(a []cty.Value, _ cty.Type) (cty.Value, error) {
			return renderTemplateFile(rel(a[0].AsString()), a[1], fns)
		},
	})
	return fns
}
