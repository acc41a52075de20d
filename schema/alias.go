package schema

import (
	"github.com/goccy/go-yaml/ast"
)

// resolveAliases replaces every alias (*name) in a document by the node its
// anchor (&name) labels, so that the decoder sees values, not names.
// goccy/go-yaml's AST keeps aliases as names. Merge keys (<<: *name) are
// refused: which keys they override is easy to misread in a build file.
func resolveAliases(file string, n ast.Node) Errors {
	r := &aliasResolver{file: file, anchors: map[string]ast.Node{}}
	r.walk(n)
	return r.errs
}

type aliasResolver struct {
	file    string
	anchors map[string]ast.Node
	errs    Errors
}

// value returns what n stands for: the anchored node of an alias.
func (r *aliasResolver) value(n ast.Node) ast.Node {
	a, ok := n.(*ast.AliasNode)
	if !ok {
		r.walk(n)
		return n
	}
	name := ""
	if a.Value != nil {
		name = a.Value.GetToken().Value
	}
	v, ok := r.anchors[name]
	if !ok {
		r.errs.Add(NodePos(r.file, n), "alias *%s names no anchor defined before it", name)
		return n
	}
	return v
}

func (r *aliasResolver) walk(n ast.Node) {
	switch t := n.(type) {
	case *ast.DocumentNode:
		t.Body = r.value(t.Body)
	case *ast.AnchorNode:
		t.Value = r.value(t.Value)
		if t.Name != nil {
			r.anchors[t.Name.GetToken().Value] = t.Value
		}
	case *ast.TagNode:
		t.Value = r.value(t.Value)
	case *ast.MappingNode:
		for _, kv := range t.Values {
			r.walk(kv)
		}
	case *ast.MappingValueNode:
		if _, merge := t.Key.(*ast.MergeKeyNode); merge {
			r.errs.Add(NodePos(r.file, t.Key), "merge keys (<<) are not supported: write the keys out, or use an alias for a whole value")
			return
		}
		t.Value = r.value(t.Value)
	case *ast.SequenceNode:
		for i, e := range t.Values {
			t.Values[i] = r.value(e)
		}
	}
}
