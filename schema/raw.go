package schema

import (
	"reflect"

	"github.com/goccy/go-yaml/ast"
)

// Raw is a part of the file kept undecoded until its type and its
// expressions' values are known: builder configs, provisioner configs,
// sources, outputs. It remembers where it came from for error messages.
type Raw struct {
	Node ast.Node
	Pos  Pos
	File string
}

// IsZero reports whether the part was absent from the file.
func (r Raw) IsZero() bool { return r.Node == nil }

// Decode decodes the part into out strictly, with expressions handled by
// interp, ignoring the top-level keys in skip.
func (r Raw) Decode(out any, interp Interp, skip ...string) Errors {
	if r.Node == nil {
		return nil
	}
	d := &Decoder{File: r.File, Interp: interp, Skip: skip}
	return d.Decode(r.Node, out)
}

// Generic decodes the part into plain values (map[string]any, []any,
// scalars) with expressions evaluated by interp.
func (r Raw) Generic(interp Interp) (any, Errors) {
	if r.Node == nil {
		return nil, nil
	}
	d := &Decoder{File: r.File, Interp: interp}
	v := d.generic(r.Node)
	return v, d.errs
}

// Keys returns the top-level keys of a mapping part with their positions.
func (r Raw) Keys() ([]string, []Pos) {
	m, ok := unwrap(r.Node).(*ast.MappingNode)
	if !ok {
		return nil, nil
	}
	var keys []string
	var pos []Pos
	for _, kv := range m.Values {
		keys = append(keys, keyString(kv.Key))
		pos = append(pos, NodePos(r.File, kv.Key))
	}
	return keys, pos
}

// Map is a YAML mapping that keeps its keys' order and positions.
type Map[T any] struct {
	Keys   []string
	Values map[string]T
	Pos    map[string]Pos
}

// Len returns the number of entries.
func (m *Map[T]) Len() int { return len(m.Keys) }

// Get returns the value for key.
func (m *Map[T]) Get(key string) (T, bool) {
	v, ok := m.Values[key]
	return v, ok
}

// Set adds or replaces an entry, keeping the first position.
func (m *Map[T]) Set(key string, pos Pos, v T) {
	if m.Values == nil {
		m.Values, m.Pos = map[string]T{}, map[string]Pos{}
	}
	if _, ok := m.Values[key]; !ok {
		m.Keys = append(m.Keys, key)
		m.Pos[key] = pos
	}
	m.Values[key] = v
}

func (m *Map[T]) decodeYAML(d *Decoder, n ast.Node) {
	mn, ok := n.(*ast.MappingNode)
	if !ok {
		if _, null := n.(*ast.NullNode); !null {
			d.errorf(n, "expected a mapping, got %s", describe(n))
		}
		return
	}
	for _, kv := range mn.Values {
		key := keyString(kv.Key)
		if _, dup := m.Values[key]; dup {
			d.errorf(kv.Key, "duplicate key %q", key)
			continue
		}
		var v T
		d.decode(kv.Value, reflect.ValueOf(&v).Elem())
		setPos(reflect.ValueOf(&v).Elem(), d.Pos(kv.Key))
		m.Set(key, d.Pos(kv.Key), v)
	}
}

// setPos points an entry's Pos at its key, where a reader sees a named
// entry (a stage, a builder, a variable) begin.
func setPos(v reflect.Value, pos Pos) {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return
	}
	if f := v.FieldByName("Pos"); f.IsValid() && f.Type() == posType && f.CanSet() {
		f.Set(reflect.ValueOf(pos))
	}
}

// elemType tells the schema generator what the map holds.
func (m *Map[T]) elemType() reflect.Type { return reflect.TypeFor[T]() }
