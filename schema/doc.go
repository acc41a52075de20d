// Package schema holds the Go types of the pipeline file, their strict,
// positioned decoding, and the JSON Schema generated from them.
//
// Decoding walks goccy/go-yaml's AST against the Go types: every unknown
// key (with a did-you-mean), wrong scalar kind and bad expression is
// reported as file:line:col in one pass. Parts whose type depends on a
// plugin (a builder's config, a provisioner's config, sources, outputs) are
// kept as Raw nodes and decoded by the pipeline once it knows the builder
// or provisioner type and the values of the expressions inside them.
// Package schema knows no builder: the JSON Schema generator is given the
// plugins' config types by its caller.
package schema
