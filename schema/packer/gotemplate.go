package packer

import (
	"regexp"
	"strings"
)

var goTmplRE = regexp.MustCompile(`\{\{-?\s*(.*?)\s*-?\}\}`)
var userRE = regexp.MustCompile("^user\\s+[`\"]([^`\"]+)[`\"]$")
var envRE = regexp.MustCompile("^env\\s+[`\"]([^`\"]+)[`\"]$")

// goTemplate translates Packer go-template actions in literal text into
// pipe expressions where pipe has an equivalent; others are kept, with a
// problem recorded. A literal `${{` is escaped as `$${{`.
func (s *scope) goTemplate(text string) string {
	return s.goTemplateMode(text, true)
}

// goTemplateRaw is goTemplate for text inside an expression, where no
// `${{ }}` can be produced: actions are kept, with a problem recorded.
func (s *scope) goTemplateRaw(text string) string {
	return s.goTemplateMode(text, false)
}

func (s *scope) goTemplateMode(text string, interp bool) string {
	if !strings.Contains(text, "{{") {
		return text
	}
	var b strings.Builder
	last := 0
	for _, m := range goTmplRE.FindAllStringSubmatchIndex(text, -1) {
		start, end := m[0], m[1]
		pre := text[last:start]
		if strings.HasSuffix(pre, "$") {
			// A literal "${{" in the template: escape it for pipe.
			b.WriteString(pre + "${{")
			b.WriteString(text[start+2 : end])
			last = end
			continue
		}
		b.WriteString(pre)
		b.WriteString(s.action(text[start:end], text[m[2]:m[3]], interp))
		last = end
	}
	b.WriteString(text[last:])
	return b.String()
}

func (s *scope) action(whole, act string, interp bool) string {
	keep := func(format string, args ...any) string {
		s.fail(KindTemplate, format, args...)
		return whole
	}
	json := s.im != nil && s.im.json
	switch {
	case act == ".Path" || act == ".Vars":
		if s.attr == "execute_command" && (s.provType == "shell" || s.provType == "shell-local") {
			if act == ".Path" && s.provType == "shell-local" {
				return "{{.Script}}"
			}
			return whole
		}
	case act == ".Script":
		if s.attr == "execute_command" && s.provType == "shell-local" {
			return whole
		}
	case act == "template_dir":
		return s.im.root()
	case act == "build_name":
		if s.buildName != "" {
			return s.buildName
		}
	case act == "build_type":
		if s.srcType != "" {
			return s.srcType
		}
	case act == "timestamp":
		if s.attr == "ami_name" {
			s.fail(KindSemantics, "{{timestamp}} dropped from ami_name: pipe appends the node's action id to ami_name")
			return ""
		}
		if interp {
			s.fail(KindSemantics, "{{timestamp}} became ${{ timestamp() }}: RFC 3339, not Unix seconds")
			return "${{ timestamp() }}"
		}
	case userRE.MatchString(act):
		name := userRE.FindStringSubmatch(act)[1]
		if !json {
			return keep("{{%s}} fails in Packer HCL templates (no user variables); kept as text", act)
		}
		s.im.useVar(name, s)
		if interp {
			return "${{ vars." + name + " }}"
		}
	case envRE.MatchString(act):
		name := envRE.FindStringSubmatch(act)[1]
		if json && s.attr == "#variable-default" {
			return "${{ env." + name + " }}"
		}
		return keep("{{%s}} is allowed only in variable defaults; kept as text", act)
	}
	return keep("go template {{%s}} has no pipe equivalent here; kept as text", act)
}
