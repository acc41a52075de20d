// Package pipeline loads a pipeline file, builds its node graph, plans and
// runs it.
//
// Loading (Load) decodes the file strictly (package schema), resolves the
// variables (default < PIPE_VAR_ < var files < --var), type-checks every
// ${{ }} expression against a scope built from the declared variable types,
// the environment and the `from:` stage's artifact, and builds one node per
// (stage, builder). It then evaluates every node once, with its upstream
// not built yet, and lets the builder and provisioners check the result
// (Prepare): every problem in a file is found before anything runs.
//
// A node's key is computed by resolve: its parts are evaluated against the
// upstream node's artifact, and its builder and provisioners write readable
// key lines; the upstream enters by its OutputID, so a rebuild that yields
// the same output stops the cascade. Lines holding a sensitive value are
// replaced by an HMAC. Plan decides, per node, cached / build / skip /
// blocked and explains a build against the node's latest record. Run is a
// small scheduler over the graph: a ready queue, at most Jobs nodes at once,
// cancellation through the context, every builder's undo stack run on
// success, failure and interrupt, and a record written only for a complete
// build. The scheduler knows no concrete builder: builders and provisioners
// come from the registries given to Load.
package pipeline
