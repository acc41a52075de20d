package packer

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// inst is one source as used in a build: a pipe builder.
type inst struct {
	key     string // type.localname, for only/except
	local   string // local name
	typ     string
	builder string // pipe builder name
	outputs []*OMap
	image   *OMap
}

// attrVal is one attribute or nested block of a source, translated.
type attrVal struct {
	name  string
	pos   Pos
	val   any
	probs []problem
	expr  hcl.Expression // nil for blocks
	block *hclsyntax.Block
}

var amazonKeys = set("region", "instance_type", "ami_name", "ami_description", "user_data", "subnet_id", "subnet_filter",
	"vpc_id", "vpc_filter", "security_group_id", "security_group_ids", "security_group_filter",
	"associate_public_ip_address", "iam_instance_profile", "launch_block_device_mappings", "ami_block_device_mappings",
	"encrypt_boot", "kms_key_id", "tags", "run_tags", "snapshot_tags", "ami_users", "ami_regions", "ssh_username",
	"ssh_port", "ssh_interface", "ssh_timeout", "ssh_keypair_name", "ssh_private_key_file",
	"temporary_security_group_source_cidrs", "max_lifetime", "instance_running_timeout", "instance_stop_timeout",
	"ami_available_timeout")

var blockDeviceKeys = set("device_name", "volume_size", "volume_type", "iops", "throughput", "encrypted", "kms_key_id",
	"delete_on_termination", "snapshot_id", "no_device")

var listBlocks = set("launch_block_device_mappings", "ami_block_device_mappings")

func set(ks ...string) map[string]bool {
	m := map[string]bool{}
	for _, k := range ks {
		m[k] = true
	}
	return m
}

// bodyAttrs translates a body's attributes and nested blocks in source
// order.
func (im *importer) bodyAttrs(body *hclsyntax.Body, sc *scope) []*attrVal {
	var out []*attrVal
	for _, a := range sortedAttrs(body) {
		sc.problems = nil
		sc.attr = a.Name
		v := sc.translate(a.Expr)
		out = append(out, &attrVal{name: a.Name, pos: posOf(a.NameRange), val: v, probs: sc.problems, expr: a.Expr})
	}
	for _, b := range body.Blocks {
		out = append(out, &attrVal{name: b.Type, pos: posOf(b.DefRange()), block: b})
	}
	return out
}

// blockMap translates a nested block into a map, accounting for its
// attributes; keys not in allowed (nil: all) are dropped with a warning.
func (im *importer) blockMap(b *hclsyntax.Block, sc *scope, allowed map[string]bool, what string, comments *[]string) *OMap {
	m := &OMap{}
	for _, a := range im.bodyAttrs(b.Body, sc) {
		if a.block != nil {
			*comments = append(*comments, im.dropBody(a.pos, a.block.Body, KindUnsupported, what+": block "+a.name+" has no pipe equivalent")...)
			continue
		}
		if allowed != nil && !allowed[a.name] {
			a.probs = append(a.probs, problem{KindUnsupported, fmt.Sprintf("%s: %s has no pipe equivalent; dropped", what, a.name)})
		} else if a.val != nil {
			// null leaves the attribute unset, in Packer as in pipe.
			m.Set(a.name, a.val)
		}
		*comments = append(*comments, im.account(a.pos, a.probs)...)
	}
	return m
}

// builder translates a source (with a build's override block) into a
// pipe builder, accounting for its attributes the first time.
func (im *importer) builder(sd *sourceDecl, override *hclsyntax.Block, local, buildName string, account bool) (*Builder, *inst) {
	switch {
	case !account && override == nil:
		defer im.quiet()()
	case !account:
		// The source's attributes were accounted by its first use: account
		// only the override's, keeping the warnings positioned in it.
		restore, nw := im.quiet(), len(im.r.Warnings)
		defer func() {
			ws := append([]Warning(nil), im.r.Warnings[nw:]...)
			restore()
			im.accountOverride(override, ws)
		}()
	}
	sc := im.scope(buildName, sd.typ, local)
	attrs := im.bodyAttrs(sd.block.Body, sc)
	if override != nil {
		oattrs := im.bodyAttrs(override.Body, sc)
		for _, oa := range oattrs {
			if oa.name == "name" {
				im.account(oa.pos, nil)
				continue
			}
			dup := false
			for _, a := range attrs {
				if a.name == oa.name && a.block == nil && oa.block == nil {
					im.errs = append(im.errs, &Error{Pos: oa.pos, Msg: fmt.Sprintf("source override sets %s, which source %s.%s already sets: Packer's overrides are additive only", oa.name, sd.typ, sd.name)})
					dup = true
				}
			}
			if !dup {
				attrs = append(attrs, oa)
			}
		}
	}
	b := &Builder{Name: sanitize(local), Pos: posOf(sd.block.DefRange()), Type: sd.typ, Config: &OMap{}, Source: &OMap{}}
	in := &inst{key: sd.typ + "." + local, local: local, typ: sd.typ}
	switch sd.typ {
	case "amazon-ebs":
		im.amazon(b, attrs, sc)
	case "docker":
		im.docker(b, in, attrs, sc)
	default:
		b.Comments = append(b.Comments, comment(Warning{Pos: b.Pos, Kind: KindBuilder, Msg: "pipe has no " + sd.typ + " builder yet: kept as written"}))
		im.warn(b.Pos, KindBuilder, "source %s.%s: pipe has no %s builder yet; kept as written", sd.typ, sd.name, sd.typ)
		for _, a := range attrs {
			if a.block != nil {
				b.Comments = append(b.Comments, im.dropBody(a.pos, a.block.Body, KindBuilder, "block "+a.name+" of a "+sd.typ+" source")...)
				continue
			}
			b.Config.Set(a.name, a.val)
			im.r.total++
			im.r.warned++
		}
	}
	return b, in
}

func (im *importer) amazon(b *Builder, attrs []*attrVal, sc *scope) {
	var filterVal any
	var amiVal any
	var amiAttr *attrVal
	hasSG := false
	hasInstanceType := false
	var commPos Pos
	for _, a := range attrs {
		if a.name == "instance_type" && a.block == nil {
			hasInstanceType = true
		}
	}
	for _, a := range attrs {
		var cs []string
		if a.block != nil {
			switch {
			case listBlocks[a.name]:
				m := im.blockMap(a.block, sc, blockDeviceKeys, a.name, &cs)
				l, _ := b.Config.Get(a.name)
				list, _ := l.([]any)
				b.Config.Set(a.name, append(list, m))
			case a.name == "source_ami_filter":
				filterVal = im.blockMap(a.block, sc, set("filters", "owners", "most_recent"), a.name, &cs)
			case a.name == "subnet_filter" || a.name == "vpc_filter" || a.name == "security_group_filter":
				b.Config.Set(a.name, im.blockMap(a.block, sc, set("filters"), a.name, &cs))
				hasSG = hasSG || a.name == "security_group_filter"
			case a.name == "tag" || a.name == "run_tag":
				m := im.blockMap(a.block, sc, set("key", "value"), a.name, &cs)
				k, _ := m.Get("key")
				v, _ := m.Get("value")
				key := map[string]string{"tag": "tags", "run_tag": "run_tags"}[a.name]
				t, _ := b.Config.Get(key)
				tm, _ := t.(*OMap)
				if tm == nil {
					tm = &OMap{}
				}
				tm.Set(fmt.Sprint(k), v)
				b.Config.Set(key, tm)
			default:
				cs = im.dropBody(a.pos, a.block.Body, KindUnsupported, "amazon-ebs: block "+a.name+" has no pipe equivalent; dropped")
			}
			b.Comments = append(b.Comments, cs...)
			continue
		}
		switch {
		case a.name == "source_ami":
			amiVal, amiAttr = a.val, a
			continue
		case a.name == "source_ami_filter":
			filterVal = im.filterFromValue(a.val, a)
		case a.name == "communicator":
			if a.val != "ssh" {
				a.probs = append(a.probs, problem{KindUnsupported, fmt.Sprintf("communicator %v: pipe connects over SSH only (winrm and communicator none are not supported); builder %s imported with SSH", a.val, b.Name)})
				if commPos == (Pos{}) {
					commPos = a.pos
				}
			}
		case a.name == "spot_instance_types":
			l, _ := a.val.([]any)
			first := ""
			if len(l) > 0 {
				first, _ = l[0].(string)
			}
			switch {
			case hasInstanceType:
				a.probs = append(a.probs, problem{KindUnsupported, "spot_instance_types: pipe has no spot instances; dropped (instance_type is set)"})
			case first == "":
				a.probs = append(a.probs, problem{KindUnsupported, fmt.Sprintf("spot_instance_types = %v: pipe has no spot instances and needs an instance_type; dropped", a.val)})
			default:
				a.probs = append(a.probs, problem{KindSemantics, fmt.Sprintf("spot_instance_types: pipe has no spot instances; instance_type = %q (the first type), launched on demand", first)})
				b.Config.Set("instance_type", first)
			}
		case a.name == "ssh_interface" && !sshInterfaces[fmt.Sprint(a.val)] && !strings.Contains(fmt.Sprint(a.val), "${{"):
			a.probs = append(a.probs, problem{KindUnsupported, fmt.Sprintf("ssh_interface %v is not supported by pipe; dropped (pipe's default interface applies)", a.val)})
		case listBlocks[a.name]:
			if l, ok := a.val.([]any); ok {
				for _, x := range l {
					if m, ok := x.(*OMap); ok {
						for _, e := range append([]Entry(nil), m.Entries...) {
							if !blockDeviceKeys[e.Key] {
								m.Delete(e.Key)
								a.probs = append(a.probs, problem{KindUnsupported, fmt.Sprintf("%s: %s has no pipe equivalent; dropped", a.name, e.Key)})
							}
						}
					}
				}
			}
			b.Config.Set(a.name, a.val)
		case mapKeys[a.name] && isText(a.val):
			// Not translatable (kept as text): pipe needs a mapping.
			a.probs = append(a.probs, problem{KindExpression, fmt.Sprintf("%s is not a mapping pipe can read; attribute left out", a.name)})
		case amazonKeys[a.name] && a.val == nil:
			// null in Packer leaves the attribute unset; so does pipe.
		case amazonKeys[a.name]:
			if a.name == "ami_name" {
				if s, ok := a.val.(string); ok {
					a.val = strings.TrimRight(strings.TrimSpace(s), "-_ .")
				}
			}
			if strings.HasPrefix(a.name, "security_group_id") {
				hasSG = true
			}
			b.Config.Set(a.name, a.val)
		default:
			a.probs = append(a.probs, problem{KindUnsupported, fmt.Sprintf("amazon-ebs option %s has no pipe equivalent; dropped", a.name)})
		}
		b.Comments = append(b.Comments, im.account(a.pos, a.probs)...)
	}
	im.coerce(b.Config)
	if _, ok := b.Config.Get("instance_type"); !ok {
		im.r.Blockers = append(im.r.Blockers, fmt.Sprintf("%s: builder %s has no instance_type (spot_instance_types has no pipe equivalent)", b.Pos, b.Name))
	}
	for _, k := range []string{"region", "instance_type"} {
		v, ok := b.Config.Get(k)
		if !ok {
			if k != "region" {
				continue
			}
			// Packer reads AWS_REGION or the profile; pipe needs it written.
			if im.r.variable(k) == nil {
				im.r.Variables = append(im.r.Variables, &Variable{Name: k, Type: "string",
					Description: "AWS region (the template sets none: Packer read AWS_REGION or the profile)"})
			}
			b.Config.Set(k, "${{ vars."+k+" }}")
			w := Warning{Pos: b.Pos, Kind: KindSemantics, Msg: fmt.Sprintf("builder %s sets no region (Packer reads AWS_REGION or the AWS profile); pipe needs one: added required variable %s", b.Name, k)}
			im.r.Warnings = append(im.r.Warnings, w)
			b.Comments = append(b.Comments, comment(w))
			continue
		}
		// A variable defaulting to "" (legacy JSON's "unset") where pipe
		// needs a value becomes required, so that validate asks for it.
		if sv, _ := v.(string); sv != "" {
			if mm := wholeVar.FindStringSubmatch(sv); mm != nil {
				if vr := im.r.variable(mm[1]); vr != nil && vr.HasDefault && vr.Default == "" {
					vr.Default, vr.HasDefault = nil, false
					vr.Comments = append(vr.Comments, "default \"\" dropped: it sets "+k+", which pipe needs")
				}
			}
		}
	}
	if _, ok := b.Config.Get("ssh_username"); !ok {
		// pipe's amazon-ebs connects over SSH and needs a user: ask for it.
		const v = "ssh_username"
		if im.r.variable(v) == nil {
			im.r.Variables = append(im.r.Variables, &Variable{Name: v, Type: "string",
				Description: "user pipe connects as over SSH (the template sets none)"})
		}
		b.Config.Set("ssh_username", "${{ vars."+v+" }}")
		p, why := b.Pos, "the template sets no ssh_username"
		if commPos != (Pos{}) {
			p, why = commPos, "the template's communicator is not SSH"
		}
		w := Warning{Pos: p, Kind: KindSemantics, Msg: fmt.Sprintf("builder %s: pipe connects over SSH only (winrm and communicator none are not supported) and %s; added required variable %s", b.Name, why, v)}
		im.r.Warnings = append(im.r.Warnings, w)
		b.Comments = append(b.Comments, comment(w))
	}
	// Source: exactly one of ami and ami_filter.
	if amiAttr != nil {
		var probs []problem
		probs = append(probs, amiAttr.probs...)
		if ref := dataRef(amiAttr.expr); ref != "" {
			if f := im.amiData(ref, sc, &b.Comments); f != nil {
				if _, plain := amiAttr.expr.(*hclsyntax.ScopeTraversalExpr); !plain {
					probs = append(probs[:0], problem{KindSemantics, fmt.Sprintf("source_ami = %s: imported as the ami_filter of data.%s; the rest of the expression is dropped", srcOf(amiAttr.expr), ref)})
				} else {
					probs = probs[:0]
				}
				filterVal = f
				amiVal = nil
			}
		}
		if s, ok := amiVal.(string); ok && s == "" {
			amiVal = nil
		}
		if amiVal != nil && filterVal != nil {
			probs = append(probs, problem{KindSemantics, "source_ami and source_ami_filter both set: pipe needs exactly one; source_ami_filter kept (give a stage-level source: {ami: …} to pin)"})
			amiVal = nil
		}
		b.Comments = append(b.Comments, im.account(amiAttr.pos, probs)...)
	}
	switch {
	case amiVal != nil:
		b.Source.Set("ami", amiVal)
	case filterVal != nil:
		b.Source.Set("ami_filter", filterVal)
	default:
		im.warn(b.Pos, KindSemantics, "amazon-ebs source %s has no source_ami or source_ami_filter", b.Name)
	}
	if _, ok := b.Config.Get("temporary_security_group_source_cidrs"); !ok && !hasSG {
		iface, _ := b.Config.Get("ssh_interface")
		if iface != "private_ip" && iface != "private_dns" {
			const v = "ssh_source_cidrs"
			if im.r.variable(v) == nil {
				im.r.Variables = append(im.r.Variables, &Variable{Name: v, Type: "list",
					Description: "CIDRs that may reach SSH on the build instance (Packer defaulted to 0.0.0.0/0)"})
			}
			b.Config.Set("temporary_security_group_source_cidrs", "${{ vars."+v+" }}")
			w := Warning{Pos: b.Pos, Kind: KindSemantics, Msg: "temporary_security_group_source_cidrs not set: Packer opens SSH to 0.0.0.0/0, pipe needs the ranges listed; added variable " + v}
			im.r.Warnings = append(im.r.Warnings, w)
			b.Comments = append(b.Comments, comment(w))
		}
	}
}

// filterFromValue keeps the keys of a source_ami_filter pipe has.
func (im *importer) filterFromValue(v any, a *attrVal) any {
	m, ok := v.(*OMap)
	if !ok {
		return v
	}
	out := &OMap{}
	for _, e := range m.Entries {
		switch e.Key {
		case "filters", "owners", "most_recent":
			out.Set(e.Key, e.Val)
		default:
			a.probs = append(a.probs, problem{KindUnsupported, "source_ami_filter: " + e.Key + " has no pipe equivalent; dropped"})
		}
	}
	return out
}

// dataRef returns "amazon-ami.NAME" when an expression refers to an
// amazon-ami data source.
func dataRef(e hcl.Expression) string {
	if e == nil {
		return ""
	}
	for _, t := range e.Variables() {
		if t.RootName() == "data" && len(t) >= 3 {
			a, ok1 := t[1].(hcl.TraverseAttr)
			b, ok2 := t[2].(hcl.TraverseAttr)
			if ok1 && ok2 && a.Name == "amazon-ami" {
				return a.Name + "." + b.Name
			}
		}
	}
	return ""
}

// amiData translates a data "amazon-ami" block into an ami_filter.
func (im *importer) amiData(ref string, sc *scope, comments *[]string) *OMap {
	blk := im.data[ref]
	if blk == nil {
		return nil
	}
	if im.dataUsed[ref] {
		defer im.quiet()()
	}
	im.dataUsed[ref] = true
	return im.blockMap(blk, sc, set("filters", "owners", "most_recent"), "data."+ref, comments)
}

func (im *importer) docker(b *Builder, in *inst, attrs []*attrVal, sc *scope) {
	b.Type = "local"
	for _, a := range attrs {
		if a.block != nil {
			b.Comments = append(b.Comments, im.dropBody(a.pos, a.block.Body, KindUnsupported, "docker: block "+a.name+" has no pipe equivalent")...)
			continue
		}
		switch a.name {
		case "image":
			img := &OMap{}
			img.Set("ref", a.val)
			b.Source.Set("image", img)
		case "commit", "discard":
			if v, ok := a.val.(bool); ok && ((a.name == "commit") != v) {
				a.probs = append(a.probs, problem{KindSemantics, fmt.Sprintf("docker %s = %v: the local builder always captures the stage's image", a.name, v)})
			}
		case "export_path":
			o := &OMap{}
			o.Set("rootfs", a.val)
			in.outputs = append(in.outputs, o)
		case "changes":
			in.image = im.dockerChanges(a)
		case "pull":
		default:
			a.probs = append(a.probs, problem{KindUnsupported, fmt.Sprintf("docker option %s has no equivalent in pipe's local builder; dropped", a.name)})
		}
		b.Comments = append(b.Comments, im.account(a.pos, a.probs)...)
	}
}

// dockerChanges translates Dockerfile-style changes into a stage image
// config.
func (im *importer) dockerChanges(a *attrVal) *OMap {
	img := &OMap{}
	l, _ := a.val.([]any)
	for _, x := range l {
		s, ok := x.(string)
		if !ok {
			a.probs = append(a.probs, problem{KindUnsupported, fmt.Sprintf("docker change %v not understood", x)})
			continue
		}
		instr, arg, _ := strings.Cut(strings.TrimSpace(s), " ")
		arg = strings.TrimSpace(arg)
		switch strings.ToUpper(instr) {
		case "WORKDIR":
			img.Set("workdir", arg)
		case "USER":
			img.Set("user", arg)
		case "ENV", "LABEL":
			key := map[string]string{"ENV": "env", "LABEL": "labels"}[strings.ToUpper(instr)]
			mv, _ := img.Get(key)
			m, _ := mv.(*OMap)
			if m == nil {
				m = &OMap{}
			}
			k, v, ok := strings.Cut(arg, "=")
			if !ok {
				k, v, _ = strings.Cut(arg, " ")
			}
			m.Set(strings.TrimSpace(k), strings.Trim(strings.TrimSpace(v), `"`))
			img.Set(key, m)
		case "EXPOSE":
			mv, _ := img.Get("exposed_ports")
			ports, _ := mv.([]any)
			for _, p := range strings.Fields(arg) {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				ports = append(ports, p)
			}
			img.Set("exposed_ports", ports)
		case "CMD", "ENTRYPOINT":
			var parts []any
			if strings.HasPrefix(arg, "[") {
				v, d := hclsyntax.ParseExpression([]byte(arg), "change", hcl.InitialPos)
				if !d.HasErrors() {
					if cv, d := v.Value(nil); !d.HasErrors() && cv.CanIterateElements() {
						for it := cv.ElementIterator(); it.Next(); {
							_, e := it.Element()
							if e.Type() == cty.String {
								parts = append(parts, e.AsString())
							}
						}
					}
				}
			} else {
				parts = []any{"/bin/sh", "-c", arg}
			}
			img.Set(strings.ToLower(instr), parts)
		default:
			a.probs = append(a.probs, problem{KindUnsupported, fmt.Sprintf("docker change %q has no pipe equivalent", s)})
		}
	}
	return img
}

// quiet starts translating without accounting; the returned function
// restores counts and warnings.
func (im *importer) quiet() func() {
	r := im.r
	m, w, t, nw, nh := r.mapped, r.warned, r.total, len(r.Warnings), len(r.Header)
	return func() {
		r.mapped, r.warned, r.total, r.Warnings, r.Header = m, w, t, r.Warnings[:nw], r.Header[:nh]
	}
}

var mapKeys = set("tags", "run_tags", "snapshot_tags")

// isText reports whether v is a string holding no pipe expression: what
// an untranslatable expression is kept as.
func isText(v any) bool {
	s, ok := v.(string)
	return ok && !strings.Contains(s, "${{")
}

var sshInterfaces = set("public_ip", "private_ip", "public_dns", "private_dns")

var intKeys = set("ssh_port", "volume_size", "iops", "throughput")
var boolKeys = set("encrypted", "delete_on_termination", "associate_public_ip_address", "encrypt_boot", "no_device", "most_recent")
var listKeys = set("ami_users", "ami_regions", "security_group_ids", "owners", "temporary_security_group_source_cidrs")

var wholeVar = regexp.MustCompile(`^\$\{\{ vars\.([A-Za-z0-9_]+) \}\}$`)

// coerce fixes the types of typed fields whose values came from untyped
// (string) variables or legacy JSON strings.
func (im *importer) coerce(m *OMap) {
	for i := range m.Entries {
		e := &m.Entries[i]
		switch v := e.Val.(type) {
		case *OMap:
			im.coerce(v)
			continue
		case []any:
			for _, x := range v {
				if xm, ok := x.(*OMap); ok {
					im.coerce(xm)
				}
			}
			continue
		case string:
			name := ""
			if mm := wholeVar.FindStringSubmatch(v); mm != nil {
				name = mm[1]
			}
			switch {
			case intKeys[e.Key]:
				if n, err := strconv.ParseInt(v, 10, 64); err == nil {
					e.Val = n
				} else if name != "" {
					im.retype(name, "number")
				}
			case boolKeys[e.Key]:
				if bv, err := strconv.ParseBool(v); err == nil {
					e.Val = bv
				} else if name != "" {
					im.retype(name, "bool")
				}
			case listKeys[e.Key]:
				if name != "" {
					if vr := im.r.variable(name); vr != nil && vr.Type == "list" {
						continue
					}
					e.Val = "${{ vars." + name + ` == "" ? [] : split(vars.` + name + `, ",") }}`
				} else if !strings.Contains(v, "${{") {
					var l []any
					for _, p := range strings.Split(v, ",") {
						if p = strings.TrimSpace(p); p != "" {
							l = append(l, p)
						}
					}
					e.Val = l
				}
			}
		}
	}
}

// retype changes a string variable used where pipe needs another type.
func (im *importer) retype(name, typ string) {
	v := im.r.variable(name)
	if v == nil || v.Type == typ || (v.Type != "string" && v.Type != "") {
		return
	}
	v.Type = typ
	if s, ok := v.Default.(string); ok {
		switch typ {
		case "number":
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				v.Default = n
				break
			}
			v.Default, v.HasDefault = nil, false
		case "bool":
			if b, err := strconv.ParseBool(s); err == nil {
				v.Default = b
				break
			}
			v.Default, v.HasDefault = nil, false
		}
	}
	v.Comments = append(v.Comments, "retyped from string to "+typ+": used where pipe needs a "+typ)
}

// accountOverride accounts the attributes of a build's source override
// block, given the warnings raised while translating it.
func (im *importer) accountOverride(override *hclsyntax.Block, ws []Warning) {
	rng := override.Range()
	warned := map[Pos]bool{}
	for _, w := range ws {
		if w.Pos.File == rng.Filename && w.Pos.Line >= rng.Start.Line && w.Pos.Line <= rng.End.Line {
			im.r.Warnings = append(im.r.Warnings, w)
			warned[w.Pos] = true
		}
	}
	hclsyntax.VisitAll(override.Body, func(n hclsyntax.Node) hcl.Diagnostics {
		if a, ok := n.(*hclsyntax.Attribute); ok {
			im.r.total++
			if warned[posOf(a.NameRange)] {
				im.r.warned++
			} else {
				im.r.mapped++
			}
		}
		return nil
	})
}
