// Package packer imports Packer templates (HCL2 files, directories of them,
// and legacy JSON templates) into pipe's pipeline format.
//
// Import reads a template into a Result, which renders as a pipe.yaml (YAML
// method) and accounts for every attribute of the template: each one either
// maps to pipe or yields a positioned warning naming it (Counts).
//
// Variable values follow Packer's precedence, lowest first: the default,
// PKR_VAR_<name> (from Options.Environ), *.auto.pkrvars.hcl/json (directory
// mode, lexical order), Options.VarFiles in order, then Options.Vars, which
// always beat var files whatever the order on the command line. A value
// given at import time becomes the pipe variable's default (pipe's own
// --var/PIPE_VAR_ still override it at run time); values of sensitive
// variables are never written: they are reported and must be given to pipe.
//
// Typed attributes stay typed. A conditional with null in one branch
// (`var.x == "" ? null : var.x`) is folded when its condition is known at
// import, and otherwise takes the other branch's value converted to the
// bool or number pipe needs; when that cannot be done the attribute is
// left out with a warning, as are tags that are not a readable mapping.
// pipe's amazon-ebs connects over SSH only: a winrm or "none"
// communicator is imported with SSH and a warning, and a builder without
// ssh_username (or region) gets a required variable of that name.
// spot_instance_types becomes instance_type, the first type, on demand.
package packer

import (
	"fmt"
	"sort"
	"strings"
)

// Pos is a position in a template file.
type Pos struct {
	File string
	Line int
	Col  int
}

func (p Pos) String() string {
	switch {
	case p.File == "":
		return "-"
	case p.Line == 0:
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Warning kinds.
const (
	KindUnsupported = "unsupported" // a block or attribute pipe has no equivalent for
	KindBuilder     = "builder"     // a builder type pipe does not have
	KindProvisioner = "provisioner" // a provisioner type pipe does not have
	KindPostProc    = "post-processor"
	KindExpression  = "expression"  // an expression kept as text
	KindTemplate    = "go-template" // a {{ }} string kept as text
	KindVariable    = "variable"    // undeclared variable, env() default, sensitive value
	KindIgnored     = "ignored"     // settings that do not apply to pipe
	KindSemantics   = "semantics"   // mapped with a difference in behaviour
)

// Warning is a positioned problem that does not stop the import.
type Warning struct {
	Pos  Pos
	Kind string
	Msg  string
}

func (w Warning) String() string { return fmt.Sprintf("%s: warning: %s", w.Pos, w.Msg) }

// Error is a positioned import error.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Pos, e.Msg) }

// Errors is a list of import errors.
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

func (es Errors) err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// Options control an import.
type Options struct {
	// Vars are -var values: name=value.
	Vars map[string]string
	// VarFiles are -var-file files (.hcl or .json), in order.
	VarFiles []string
	// Environ is KEY=VALUE pairs for PKR_VAR_<name> and env() in variable
	// defaults; nil reads nothing from the environment.
	Environ []string
	// Root is what path.root and {{template_dir}} become: the template's
	// directory relative to the written pipe.yaml. Default ".".
	Root string
}

// Variable is an imported variable.
type Variable struct {
	Name        string
	Pos         Pos
	Type        string
	Default     any
	HasDefault  bool
	Description string
	Sensitive   bool
	Validation  []Validation
	Comments    []string
}

// Validation is an imported validation rule.
type Validation struct {
	Condition string
	Message   string
}

// Builder is an imported builder.
type Builder struct {
	Name     string
	Pos      Pos
	Type     string
	Config   *OMap // without type and source
	Source   *OMap
	Comments []string
	// PackerSource is the Packer source it was made from, "TYPE.NAME"
	// (HCL2 templates only).
	PackerSource string
}

// Stage is an imported stage.
type Stage struct {
	Name string
	// Build is the name of the Packer build the stage comes from.
	Build     string
	Pos       Pos
	Builders  []string
	Provision []Provision
	Outputs   []*OMap
	Image     *OMap
	Comments  []string
}

// Provision is one provisioner of a stage.
type Provision struct {
	Type string
	// Pos is the provisioner block's position (zero when unknown).
	Pos      Pos
	Config   *OMap
	Comments []string
}

// Result is an imported template.
type Result struct {
	// Name is the pipeline's name.
	Name string
	// Files are the template files read, in order.
	Files     []string
	Variables []*Variable
	Builders  []*Builder
	Stages    []*Stage
	Warnings  []Warning
	// Blockers say why the YAML cannot pass pipe validate whatever the
	// variables (a non-SSH communicator, for example).
	Blockers []string
	// Header holds file-level comments.
	Header []string

	mapped, warned, total int
}

// Counts returns how many template attributes were mapped to pipe, how
// many yielded a warning, and how many the template has.
func (r *Result) Counts() (mapped, warned, total int) { return r.mapped, r.warned, r.total }

// WarningsByKind counts the warnings of each kind.
func (r *Result) WarningsByKind() map[string]int {
	m := map[string]int{}
	for _, w := range r.Warnings {
		m[w.Kind]++
	}
	return m
}

// Kinds returns the warning kinds present, sorted.
func (r *Result) Kinds() []string {
	var ks []string
	for k := range r.WarningsByKind() {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func (r *Result) variable(name string) *Variable {
	for _, v := range r.Variables {
		if v.Name == name {
			return v
		}
	}
	return nil
}

func (r *Result) builder(name string) *Builder {
	for _, b := range r.Builders {
		if b.Name == name {
			return b
		}
	}
	return nil
}
