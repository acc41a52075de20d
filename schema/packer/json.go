package packer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// jnode is a JSON value with its byte offset.
type jnode struct {
	off  int64
	obj  []jkv
	arr  []*jnode
	val  any // string, float64, bool, nil for scalars
	kind byte
}

type jkv struct {
	key string
	off int64
	val *jnode
}

func (n *jnode) get(k string) *jnode {
	for _, kv := range n.obj {
		if kv.key == k {
			return kv.val
		}
	}
	return nil
}

func jsonParse(dec *json.Decoder, src []byte) (*jnode, error) {
	off := skipWS(src, dec.InputOffset())
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	n := &jnode{off: off}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n.kind = '{'
			for dec.More() {
				koff := skipWS(src, dec.InputOffset())
				if koff < int64(len(src)) && src[koff] == ',' {
					koff = skipWS(src, koff+1)
				}
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := jsonParse(dec, src)
				if err != nil {
					return nil, err
				}
				n.obj = append(n.obj, jkv{key: kt.(string), off: koff, val: v})
			}
			_, err = dec.Token()
		case '[':
			n.kind = '['
			for dec.More() {
				v, err := jsonParse(dec, src)
				if err != nil {
					return nil, err
				}
				n.arr = append(n.arr, v)
			}
			_, err = dec.Token()
		}
		return n, err
	default:
		n.val = tok
	}
	return n, nil
}

func skipWS(src []byte, off int64) int64 {
	for off < int64(len(src)) && (src[off] == ' ' || src[off] == '\t' || src[off] == '\n' || src[off] == '\r' || src[off] == ':') {
		off++
	}
	return off
}

func lineCol(src []byte, off int64) (int, int) {
	if off > int64(len(src)) {
		off = int64(len(src))
	}
	before := src[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

func jsonError(path string, src []byte, err error) *Error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// Offset counts the bytes read, the offending one included: the
		// position is that byte's, except at the end of the input.
		off := se.Offset
		if off > 0 && off <= int64(len(src)) && strings.HasPrefix(se.Error(), "invalid character") {
			off--
		}
		l, c := lineCol(src, off)
		return &Error{Pos: Pos{File: path, Line: l, Col: c}, Msg: fmt.Sprintf("JSON syntax error at byte offset %d: %v", off, se)}
	}
	var ue *json.UnmarshalTypeError
	if errors.As(err, &ue) {
		l, c := lineCol(src, ue.Offset)
		return &Error{Pos: Pos{File: path, Line: l, Col: c}, Msg: err.Error()}
	}
	return &Error{Pos: Pos{File: path}, Msg: err.Error()}
}

// importJSON reads a legacy JSON template.
func importJSON(path string, opts Options) (*Result, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Pos: Pos{File: path}, Msg: err.Error()}
	}
	if !json.Valid(src) {
		var x any
		return nil, jsonError(path, src, json.Unmarshal(src, &x))
	}
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	root, err := jsonParse(dec, src)
	if err != nil {
		return nil, jsonError(path, src, err)
	}
	if root.kind != '{' {
		return nil, &Error{Pos: Pos{File: path, Line: 1, Col: 1}, Msg: "a JSON template is an object"}
	}
	im := &importer{opts: opts, r: &Result{Files: []string{path}, Name: pipelineName(path)}, json: true, dir: filepath.Dir(path),
		vars: map[string]*varDecl{}, locals: map[string]*localDecl{}, data: map[string]*hclsyntax0{}, dataUsed: map[string]bool{}, sources: map[string]*sourceDecl{}}
	im.fns = functions(im.dir)
	im.ctx = &hcl.EvalContext{}
	pos := func(off int64) Pos {
		l, c := lineCol(src, off)
		return Pos{File: path, Line: l, Col: c}
	}
	if err := jsonShape(root, pos); err != nil {
		return nil, err
	}
	for _, kv := range root.obj {
		switch kv.key {
		case "variables", "sensitive-variables", "builders", "provisioners", "post-processors":
		case "min_packer_version", "description", "_comment":
			im.r.Header = append(im.r.Header, im.account(pos(kv.off), []problem{{KindIgnored, kv.key + " ignored"}})...)
		default:
			return nil, &Error{Pos: pos(kv.off), Msg: fmt.Sprintf("unknown top-level key %q in JSON template", kv.key)}
		}
	}
	sens := map[string]bool{}
	if sv := root.get("sensitive-variables"); sv != nil {
		for _, x := range sv.arr {
			if s, ok := x.val.(string); ok {
				sens[s] = true
			}
			im.account(pos(x.off), nil)
		}
	}
	sc := &scope{im: im, ctx: im.ctx}
	if vs := root.get("variables"); vs != nil {
		for _, kv := range vs.obj {
			v := &Variable{Name: kv.key, Pos: pos(kv.off), Type: "string", Sensitive: sens[kv.key]}
			var probs []problem
			switch x := kv.val.val.(type) {
			case nil:
			case string:
				if strings.Contains(x, "{{") {
					sc.problems = nil
					sc.attr = "#variable-default"
					if m := envRE.FindStringSubmatch(strings.Trim(strings.TrimSpace(x), "{} ")); m != nil && strings.HasPrefix(strings.TrimSpace(x), "{{") && strings.HasSuffix(strings.TrimSpace(x), "}}") {
						probs = append(probs, problem{KindVariable, fmt.Sprintf("variable %q: default %s reads the environment; pipe reads PIPE_VAR_%s instead, so it has no default", kv.key, x, kv.key)})
					} else {
						probs = append(probs, problem{KindVariable, fmt.Sprintf("variable %q: default %q uses go templates; not imported", kv.key, x)})
					}
				} else {
					v.Default, v.HasDefault = x, true
				}
			default:
				v.Default, v.HasDefault = fmt.Sprint(x), true
			}
			v.Comments = im.account(v.Pos, probs)
			im.addVar(&varDecl{v: v, typ: cty.DynamicPseudoType, decl: true})
		}
	}
	var parts []*stagePart
	if bs := root.get("builders"); bs != nil {
		for _, bn := range bs.arr {
			typ, _ := bn.get("type").val.(string)
			name := typ
			if n := bn.get("name"); n != nil {
				name, _ = n.val.(string)
			}
			bsc := &scope{im: im, ctx: im.ctx, buildName: name, srcType: typ, srcName: name}
			var attrs []*attrVal
			for _, kv := range bn.obj {
				if kv.key == "type" || kv.key == "name" {
					im.account(pos(kv.off), nil)
					continue
				}
				bsc.problems = nil
				bsc.attr = kv.key
				val := bsc.jsonValue(kv.val)
				attrs = append(attrs, &attrVal{name: kv.key, pos: pos(kv.off), val: val, probs: bsc.problems})
			}
			b := &Builder{Name: sanitize(name), Pos: pos(bn.off), Type: typ, Config: &OMap{}, Source: &OMap{}}
			in := &inst{key: name, local: name, typ: typ}
			switch typ {
			case "amazon-ebs":
				im.amazon(b, attrs, bsc)
			case "docker":
				im.docker(b, in, attrs, bsc)
			default:
				im.warn(b.Pos, KindBuilder, "builder %s: pipe has no %s builder yet; kept as written", name, typ)
				b.Comments = append(b.Comments, "warning (builder): pipe has no "+typ+" builder yet: kept as written")
				for _, a := range attrs {
					b.Config.Set(a.name, a.val)
					im.r.total++
					im.r.warned++
				}
			}
			in.builder = im.addBuilder(b, "build")
			parts = append(parts, &stagePart{in: in, outs: in.outputs})
		}
	}
	if ps := root.get("provisioners"); ps != nil {
		for _, pn := range ps.arr {
			im.jsonProvisioner(pn, parts, pos)
		}
	}
	if pps := root.get("post-processors"); pps != nil {
		for _, pp := range pps.arr {
			list := []*jnode{pp}
			if pp.kind == '[' {
				list = pp.arr
			}
			for _, x := range list {
				if s, ok := x.val.(string); ok {
					im.warn(pos(x.off), KindPostProc, "post-processor %q: not imported", s)
					continue
				}
				typ, _ := x.get("type").val.(string)
				var names []string
				for _, kv := range x.obj {
					names = append(names, kv.key)
				}
				im.r.total += len(names)
				im.r.warned += len(names)
				what := "pipe has no such post-processor"
				if typ == "manifest" {
					what = "pipe writes pipe-manifest.json on every run"
				}
				im.warn(pos(x.off), KindPostProc, "post-processor %q: %s; not imported (attributes: %s)", typ, what, strings.Join(names, ", "))
			}
		}
	}
	if len(parts) > 0 {
		im.assemble("build", Pos{File: path, Line: 1, Col: 1}, parts, nil, map[string]bool{})
	}
	return im.r, nil
}

type hclsyntax0 = hclsyntax.Block

// jsonKinds names JSON value kinds for errors.
func jsonKind(n *jnode) string {
	switch n.kind {
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	switch n.val.(type) {
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "null"
}

// jsonShape checks the structure of a legacy JSON template as Packer's
// decoder does, so that a value of the wrong type is a positioned error
// rather than silently ignored.
func jsonShape(root *jnode, pos func(int64) Pos) error {
	bad := func(n *jnode, what, want string) error {
		return &Error{Pos: pos(n.off), Msg: fmt.Sprintf("%s must be %s, not %s", what, want, jsonKind(n))}
	}
	isStr := func(n *jnode) bool { _, ok := n.val.(string); return ok && n.kind == 0 }
	typed := func(n *jnode, what string) error {
		if n.kind != '{' {
			return bad(n, what, "an object")
		}
		t := n.get("type")
		if t == nil {
			return &Error{Pos: pos(n.off), Msg: what + " has no type"}
		}
		if !isStr(t) {
			return bad(t, what+" type", "a string")
		}
		return nil
	}
	strList := func(n *jnode, what string) error {
		if n.kind != '[' {
			return bad(n, what, "an array of strings")
		}
		for _, x := range n.arr {
			if !isStr(x) {
				return bad(x, what+" entry", "a string")
			}
		}
		return nil
	}
	if n := root.get("variables"); n != nil {
		if n.kind != '{' {
			return bad(n, "variables", "an object")
		}
		for _, kv := range n.obj {
			if kv.val.kind != 0 {
				return bad(kv.val, fmt.Sprintf("variable %q", kv.key), "a string or null")
			}
		}
	}
	if n := root.get("sensitive-variables"); n != nil {
		if err := strList(n, "sensitive-variables"); err != nil {
			return err
		}
	}
	if n := root.get("builders"); n != nil {
		if n.kind != '[' {
			return bad(n, "builders", "an array")
		}
		for _, b := range n.arr {
			if err := typed(b, "builder"); err != nil {
				return err
			}
			if nm := b.get("name"); nm != nil && !isStr(nm) {
				return bad(nm, "builder name", "a string")
			}
		}
	}
	if n := root.get("provisioners"); n != nil {
		if n.kind != '[' {
			return bad(n, "provisioners", "an array")
		}
		for _, p := range n.arr {
			if err := typed(p, "provisioner"); err != nil {
				return err
			}
			for _, k := range []string{"only", "except"} {
				if x := p.get(k); x != nil {
					if err := strList(x, "provisioner "+k); err != nil {
						return err
					}
				}
			}
			if ov := p.get("override"); ov != nil {
				if ov.kind != '{' {
					return bad(ov, "provisioner override", "an object")
				}
				for _, kv := range ov.obj {
					if kv.val.kind != '{' {
						return bad(kv.val, fmt.Sprintf("provisioner override %q", kv.key), "an object")
					}
				}
			}
		}
	}
	if n := root.get("post-processors"); n != nil {
		if n.kind != '[' {
			return bad(n, "post-processors", "an array")
		}
		for _, pp := range n.arr {
			list := []*jnode{pp}
			if pp.kind == '[' {
				list = pp.arr
			}
			for _, x := range list {
				if isStr(x) {
					continue
				}
				if err := typed(x, "post-processor"); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (s *scope) jsonValue(n *jnode) any {
	switch n.kind {
	case '{':
		m := &OMap{}
		for _, kv := range n.obj {
			m.Set(kv.key, s.jsonValue(kv.val))
		}
		return m
	case '[':
		l := []any{}
		for _, x := range n.arr {
			l = append(l, s.jsonValue(x))
		}
		return l
	}
	switch v := n.val.(type) {
	case string:
		return s.goTemplate(v)
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	}
	return n.val
}

func (im *importer) jsonProvisioner(pn *jnode, parts []*stagePart, pos func(int64) Pos) {
	typ, _ := pn.get("type").val.(string)
	p := pos(pn.off)
	keys := provKeys[typ]
	if keys == nil {
		var names []string
		for _, kv := range pn.obj {
			names = append(names, kv.key)
		}
		im.r.total += len(names)
		im.r.warned += len(names)
		im.warn(p, KindProvisioner, "provisioner %q: pipe has no such provisioner; not imported (attributes: %s)", typ, strings.Join(names, ", "))
		return
	}
	strs := func(n *jnode) []string {
		var out []string
		if n != nil {
			for _, x := range n.arr {
				if s, ok := x.val.(string); ok {
					out = append(out, s)
				}
			}
		}
		return out
	}
	only, except := strs(pn.get("only")), strs(pn.get("except"))
	probs := map[string][]problem{}
	var firstComments []string
	for _, part := range parts {
		sc := &scope{im: im, ctx: im.ctx, provType: typ, buildName: "build", srcType: part.in.typ, srcName: part.in.local}
		cfg := &OMap{}
		for _, kv := range pn.obj {
			sc.problems = nil
			sc.attr = kv.key
			switch kv.key {
			case "type", "only", "except", "name":
			case "override":
				if ov := kv.val.get(part.in.local); ov != nil {
					for _, okv := range ov.obj {
						if keys[okv.key] {
							sc.attr = okv.key
							cfg.Set(okv.key, sc.jsonValue(okv.val))
						} else {
							sc.fail(KindUnsupported, "override for %s: %s has no pipe equivalent", part.in.local, okv.key)
						}
					}
				}
			case "pause_before":
				sc.fail(KindUnsupported, "pause_before has no pipe equivalent; dropped")
			default:
				if keys[kv.key] {
					cfg.Set(kv.key, sc.jsonValue(kv.val))
				} else {
					sc.fail(KindUnsupported, "%s provisioner option %s has no pipe equivalent; dropped", typ, kv.key)
				}
			}
			probs[kv.key] = mergeProbs(probs[kv.key], sc.problems)
		}
		if applies(part.in, only, except) {
			part.prov = append(part.prov, Provision{Type: typ, Config: cfg})
		}
	}
	for _, kv := range pn.obj {
		firstComments = append(firstComments, im.account(pos(kv.off), probs[kv.key])...)
	}
	for _, part := range parts {
		if n := len(part.prov); n > 0 && applies(part.in, only, except) {
			part.prov[n-1].Comments = append(part.prov[n-1].Comments, firstComments...)
		}
	}
}
