package packer

import (
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// OMap is an ordered mapping whose entries may carry comments.
type OMap struct {
	Entries []Entry
}

// Entry is one key of an OMap.
type Entry struct {
	Key      string
	Val      any
	Comments []string
}

// Set sets key to v, replacing an earlier value.
func (m *OMap) Set(k string, v any, comments ...string) {
	for i := range m.Entries {
		if m.Entries[i].Key == k {
			m.Entries[i].Val = v
			m.Entries[i].Comments = append(m.Entries[i].Comments, comments...)
			return
		}
	}
	m.Entries = append(m.Entries, Entry{Key: k, Val: v, Comments: comments})
}

// Get returns key's value.
func (m *OMap) Get(k string) (any, bool) {
	if m == nil {
		return nil, false
	}
	for _, e := range m.Entries {
		if e.Key == k {
			return e.Val, true
		}
	}
	return nil, false
}

// Delete removes key.
func (m *OMap) Delete(k string) {
	for i, e := range m.Entries {
		if e.Key == k {
			m.Entries = append(m.Entries[:i], m.Entries[i+1:]...)
			return
		}
	}
}

// Len is the number of entries.
func (m *OMap) Len() int {
	if m == nil {
		return 0
	}
	return len(m.Entries)
}

func (m *OMap) clone() *OMap {
	if m == nil {
		return nil
	}
	c := &OMap{Entries: make([]Entry, len(m.Entries))}
	for i, e := range m.Entries {
		c.Entries[i] = Entry{Key: e.Key, Val: cloneVal(e.Val), Comments: append([]string(nil), e.Comments...)}
	}
	return c
}

func cloneVal(v any) any {
	switch v := v.(type) {
	case *OMap:
		return v.clone()
	case []any:
		c := make([]any, len(v))
		for i := range v {
			c[i] = cloneVal(v[i])
		}
		return c
	}
	return v
}

// YAML renders the result as a pipe.yaml.
func (r *Result) YAML() []byte {
	var b strings.Builder
	b.WriteString("# Imported from Packer by `pipe import`")
	if len(r.Files) > 0 {
		b.WriteString(": " + strings.Join(r.Files, ", "))
	}
	b.WriteString("\n")
	m, w, t := r.Counts()
	fmt.Fprintf(&b, "# %d of %d template attributes mapped, %d with warnings.\n", m, t, w)
	for _, c := range r.Header {
		writeComment(&b, 0, c)
	}
	top := r.fileMap()
	writeMap(&b, 0, top)
	return []byte(b.String())
}

func (r *Result) fileMap() *OMap {
	top := &OMap{}
	top.Set("name", r.Name)
	if len(r.Variables) > 0 {
		vars := &OMap{}
		for _, v := range r.Variables {
			vm := &OMap{}
			vm.Set("type", v.Type)
			if v.HasDefault {
				vm.Set("default", v.Default)
			}
			if v.Description != "" {
				vm.Set("description", v.Description)
			}
			if v.Sensitive {
				vm.Set("sensitive", true)
			}
			if len(v.Validation) > 0 {
				var l []any
				for _, c := range v.Validation {
					cm := &OMap{}
					cm.Set("condition", c.Condition)
					cm.Set("message", c.Message)
					l = append(l, cm)
				}
				vm.Set("validation", l)
			}
			vars.Set(v.Name, vm, v.Comments...)
		}
		top.Set("variables", vars)
	}
	bs := &OMap{}
	for _, bl := range r.Builders {
		bm := &OMap{}
		bm.Set("type", bl.Type)
		if bl.Source.Len() > 0 {
			bm.Set("source", bl.Source)
		}
		if bl.Config != nil {
			bm.Entries = append(bm.Entries, bl.Config.Entries...)
		}
		bs.Set(bl.Name, bm, bl.Comments...)
	}
	top.Set("builders", bs)
	ss := &OMap{}
	for _, s := range r.Stages {
		sm := &OMap{}
		sm.Set("builders", toAnyList(s.Builders))
		if s.Image.Len() > 0 {
			sm.Set("image", s.Image)
		}
		var prov []any
		for _, p := range s.Provision {
			pm := &OMap{}
			cfg := p.Config
			if cfg == nil {
				cfg = &OMap{}
			}
			pm.Set(p.Type, cfg, p.Comments...)
			prov = append(prov, pm)
		}
		if len(prov) > 0 {
			sm.Set("provision", prov)
		}
		if len(s.Outputs) > 0 {
			var outs []any
			for _, o := range s.Outputs {
				outs = append(outs, o)
			}
			sm.Set("outputs", outs)
		}
		ss.Set(s.Name, sm, s.Comments...)
	}
	top.Set("stages", ss)
	return top
}

func toAnyList(s []string) []any {
	l := make([]any, len(s))
	for i, x := range s {
		l[i] = x
	}
	return l
}

func writeComment(b *strings.Builder, indent int, c string) {
	for _, line := range strings.Split(c, "\n") {
		b.WriteString(strings.Repeat(" ", indent))
		b.WriteString("# ")
		b.WriteString(strings.TrimRight(line, " \t"))
		b.WriteString("\n")
	}
}

func writeMap(b *strings.Builder, indent int, m *OMap) {
	for _, e := range m.Entries {
		for _, c := range e.Comments {
			writeComment(b, indent, c)
		}
		b.WriteString(strings.Repeat(" ", indent))
		b.WriteString(yamlKey(e.Key))
		b.WriteString(":")
		writeValue(b, indent, e.Val)
	}
}

// writeValue writes v after "key:" or "-".
func writeValue(b *strings.Builder, indent int, v any) {
	switch v := v.(type) {
	case *OMap:
		if v.Len() == 0 {
			b.WriteString(" {}\n")
			return
		}
		b.WriteString("\n")
		writeMap(b, indent+2, v)
	case []any:
		if len(v) == 0 {
			b.WriteString(" []\n")
			return
		}
		if allScalar(v) && flowLen(v) < 80 {
			b.WriteString(" [")
			for i, x := range v {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(scalar(x))
			}
			b.WriteString("]\n")
			return
		}
		b.WriteString("\n")
		for _, x := range v {
			b.WriteString(strings.Repeat(" ", indent+2))
			b.WriteString("-")
			if m, ok := x.(*OMap); ok && m.Len() > 0 {
				// First entry on the dash line.
				var sb strings.Builder
				writeMap(&sb, indent+4, m)
				s := sb.String()
				b.WriteString(" ")
				b.WriteString(strings.TrimLeft(s, " "))
				continue
			}
			writeValue(b, indent+2, x)
		}
	case string:
		if block, ok := blockScalar(v, indent+2); ok {
			b.WriteString(" ")
			b.WriteString(block)
			return
		}
		b.WriteString(" " + scalar(v) + "\n")
	default:
		b.WriteString(" " + scalar(v) + "\n")
	}
}

func allScalar(l []any) bool {
	for _, x := range l {
		switch x := x.(type) {
		case *OMap, []any:
			return false
		case string:
			if strings.Contains(x, "\n") {
				return false
			}
		}
	}
	return true
}

func flowLen(l []any) int {
	n := 0
	for _, x := range l {
		n += len(scalar(x)) + 2
	}
	return n
}

var plainKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.\-/]*$`)

func yamlKey(k string) string {
	if plainKey.MatchString(k) && !ambiguous(k) {
		return k
	}
	return strconv.Quote(k)
}

var plainScalar = regexp.MustCompile(`^[A-Za-z_/][A-Za-z0-9_./\-]*$`)

func ambiguous(s string) bool {
	switch strings.ToLower(s) {
	case "true", "false", "yes", "no", "on", "off", "null", "~", "y", "n":
		return true
	}
	return false
}

func scalar(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(v)
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case *big.Float:
		if v.IsInt() {
			i, _ := v.Int(nil)
			return i.String()
		}
		f, _ := v.Float64()
		return strconv.FormatFloat(f, 'g', -1, 64)
	case string:
		if plainScalar.MatchString(v) && !ambiguous(v) {
			return v
		}
		return quote(v)
	case *OMap:
		if v.Len() == 0 {
			return "{}"
		}
	case []any:
		if len(v) == 0 {
			return "[]"
		}
	}
	return quote(fmt.Sprint(v))
}

// quote writes a YAML double-quoted scalar (JSON escapes are valid YAML).
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// blockScalar renders a multi-line string as a literal block when it can
// round-trip exactly.
func blockScalar(s string, indent int) (string, bool) {
	if !strings.Contains(strings.TrimRight(s, "\n"), "\n") {
		return "", false
	}
	for _, r := range s {
		if (r < 0x20 && r != '\n') || r == 0x7f || r == '\r' || r == 0xFEFF {
			return "", false
		}
	}
	if strings.HasPrefix(s, " ") || strings.HasPrefix(s, "\n") {
		return "", false
	}
	body := s
	chomp := "-"
	switch {
	case strings.HasSuffix(s, "\n\n"):
		chomp = "+"
	case strings.HasSuffix(s, "\n"):
		chomp = ""
	}
	body = strings.TrimSuffix(body, "\n")
	if chomp == "+" {
		body = s[:len(s)-1]
	}
	lines := strings.Split(body, "\n")
	for _, l := range lines {
		if strings.TrimRight(l, " ") != l {
			return "", false // trailing spaces are fine in YAML but hard to see; keep quoted
		}
	}
	var b strings.Builder
	b.WriteString("|" + chomp + "\n")
	pad := strings.Repeat(" ", indent)
	for _, l := range lines {
		if l == "" {
			b.WriteString("\n")
			continue
		}
		b.WriteString(pad + l + "\n")
	}
	return b.String(), true
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
