package pipeline

import (
	"fmt"
	"sort"
	"strings"

	"github.com/heimdalr/dag"

	"github.com/pipebuild/pipe/builders"
	"github.com/pipebuild/pipe/schema"
	"github.com/pipebuild/pipe/stages"
)

// Node is one (stage, builder) pair: "app@aws".
type Node struct {
	// Name is "stage@builder".
	Name string
	// Stage is the stage's name and Def its definition.
	Stage string
	Def   *schema.Stage
	// BuilderName is the builder's name in the file, BuilderDef its entry and
	// Builder its type's implementation.
	BuilderName string
	BuilderDef  *schema.Builder
	Builder     builders.Builder
	// Provisioners holds the implementation of each of Def.Provision.
	Provisioners []stages.Provisioner
	// Up is the upstream node (nil for a root) and Down its dependents.
	Up   *Node
	Down []*Node

	scope *scope
}

// NodeName names the node of stage on builder.
func NodeName(stage, builder string) string { return stage + "@" + builder }

// graph is the pipeline's node graph, kept in heimdalr/dag for ancestor and
// descendant queries.
type graph struct {
	nodes  []*Node // topological order: stages in file order, upstream first
	byName map[string]*Node
	dag    *dag.DAG
}

// stageOrder returns the stages in an order where every stage follows its
// upstream, or an error naming every stage on a cycle.
func stageOrder(f *schema.File) ([]string, schema.Errors) {
	var errs schema.Errors
	state := map[string]int{} // 0 new, 1 visiting, 2 done
	var order []string
	var visit func(name string, path []string)
	visit = func(name string, path []string) {
		switch state[name] {
		case 2:
			return
		case 1:
			errs = append(errs, cycleError(f, append(path, name)))
			return
		}
		state[name] = 1
		if from := f.Stages.Values[name].From; from != "" {
			if _, ok := f.Stages.Values[from]; ok {
				visit(from, append(path, name))
			}
		}
		state[name] = 2
		order = append(order, name)
	}
	for _, name := range f.Stages.Keys {
		visit(name, nil)
	}
	return order, errs
}

// cycleError names every stage on the cycle that path ends with, with its
// position, in `from:` order.
func cycleError(f *schema.File, path []string) *schema.Error {
	last := path[len(path)-1]
	start := 0
	for i, s := range path[:len(path)-1] {
		if s == last {
			start = i
		}
	}
	cyc := path[start:]
	// path follows from: edges downstream → upstream; print it upstream first.
	for i, j := 0, len(cyc)-1; i < j; i, j = i+1, j-1 {
		cyc[i], cyc[j] = cyc[j], cyc[i]
	}
	var parts []string
	for _, s := range cyc[:len(cyc)-1] {
		parts = append(parts, fmt.Sprintf("%s (%s)", s, f.Stages.Values[s].Pos))
	}
	pos := f.Stages.Values[cyc[0]].KeyPos["from"]
	return schema.Errorf(pos, "stages form a cycle through from: %s → %s", strings.Join(parts, " → "), cyc[0])
}

// stageBuilders decides which builders each stage runs on.
func stageBuilders(f *schema.File, order []string, implicit string) (map[string][]string, schema.Errors) {
	var errs schema.Errors
	out := map[string][]string{}
	for _, name := range order {
		st := f.Stages.Values[name]
		for _, b := range st.Builders {
			if _, ok := f.Builders.Get(b); !ok && b != implicit {
				errs.Add(st.KeyPos["builders"], "stage %q: unknown builder %q%s", name, b, suggest(b, f.Builders.Keys))
			}
		}
		up, hasUp := out[st.From]
		switch {
		case st.From != "" && !hasUp:
			continue // upstream is broken; reported elsewhere
		case st.From != "" && len(st.Builders) == 0:
			out[name] = up
		case st.From != "":
			for _, b := range st.Builders {
				if !contains(up, b) {
					errs.Add(st.KeyPos["builders"], "stage %q runs on %q, but its upstream %q does not (it runs on %s)", name, b, st.From, strings.Join(up, ", "))
				}
			}
			out[name] = st.Builders
		case len(st.Builders) > 0:
			out[name] = st.Builders
		case f.Builders.Len() == 1:
			out[name] = f.Builders.Keys
		case f.Builders.Len() == 0 && implicit != "":
			out[name] = []string{implicit}
		case f.Builders.Len() == 0:
			errs.Add(st.Pos, "stage %q: the file declares no builders", name)
		default:
			errs.Add(st.Pos, "stage %q has no `builders:` and the file declares several (%s): name the ones it runs on", name, strings.Join(f.Builders.Keys, ", "))
		}
	}
	return out, errs
}

// newGraph builds the node graph from the stage order and builder sets.
func newGraph(order []string, sb map[string][]string, f *schema.File) *graph {
	g := &graph{byName: map[string]*Node{}, dag: dag.NewDAG()}
	for _, st := range order {
		def := f.Stages.Values[st]
		for _, b := range sb[st] {
			n := &Node{Name: NodeName(st, b), Stage: st, Def: def, BuilderName: b}
			if def.From != "" {
				n.Up = g.byName[NodeName(def.From, b)]
			}
			g.add(n)
		}
	}
	return g
}

func (g *graph) add(n *Node) {
	g.nodes = append(g.nodes, n)
	g.byName[n.Name] = n
	_ = g.dag.AddVertexByID(n.Name, n) // names are unique by construction
	if n.Up != nil {
		n.Up.Down = append(n.Up.Down, n)
		_ = g.dag.AddEdge(n.Up.Name, n.Name) // a forest cannot cycle
	}
}

// descendants returns the names of every node below name.
func (g *graph) descendants(name string) []string {
	m, err := g.dag.GetDescendants(name)
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// selectStages keeps only the named stages and their ancestors.
func selectStages(f *schema.File, only []string) (map[string]bool, error) {
	keep := map[string]bool{}
	for _, s := range only {
		if _, ok := f.Stages.Get(s); !ok {
			return nil, fmt.Errorf("--only: unknown stage %q%s", s, suggest(s, f.Stages.Keys))
		}
		for s != "" && !keep[s] {
			keep[s] = true
			s = f.Stages.Values[s].From
		}
	}
	return keep, nil
}
