package pipeline

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pipebuild/pipe/stages/shelllocal"
)

const exprHead = `variables:
  suite: {default: Bookworm}
  codes: {type: list, default: [0, 3]}
  word: {default: "3"}
  parts: {type: list, default: [a, b]}
builders:
  h: {type: null}
stages:
`

// resolvedConfig loads a pipeline and returns the resolved shell-local
// config of the first provisioner of node.
func resolvedConfig(t *testing.T, stagesSrc, node string, files map[string]string) *shelllocal.Config {
	t.Helper()
	p, err := loadSrc(t, exprHead+stagesSrc, files, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, ok := p.Node(node)
	if !ok {
		t.Fatalf("no node %s", node)
	}
	st := openStore(t)
	r, err := p.resolve(n, nil, st)
	if err != nil {
		t.Fatal(err)
	}
	return r.provs[0].cfg.(*shelllocal.Config)
}

func TestExprValues(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inline string
		want   string
	}{
		{"interpolation", `"echo ${{ vars.suite }} ok"`, "echo Bookworm ok"},
		{"two expressions", `"${{ vars.suite }}-${{ vars.word }}"`, "Bookworm-3"},
		{"literal", `"echo $${{ vars.suite }}"`, "echo ${{ vars.suite }}"},
		{"timestamp frozen in UTC", `"${{ timestamp() }}"`, "2024-05-06T05:08:09Z"},
		{"env", `"${{ env.HOME }}"`, "/home/tester"},
		{"sha256", `"${{ sha256('abc') }}"`, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{"lower", `"${{ lower(vars.suite) }}"`, "bookworm"},
		{"upper", `"${{ upper(vars.suite) }}"`, "BOOKWORM"},
		{"replace", `"${{ replace(vars.suite, 'worm', 'cat') }}"`, "Bookcat"},
		{"join", `"${{ join(vars.parts, ',') }}"`, "a,b"},
		{"split", `"${{ split('x/y', '/')[1] }}"`, "y"},
		{"file", `"${{ file('x.txt') }}"`, "from x.txt\n"},
		{"list rendered as JSON", `"parts: ${{ vars.parts }}"`, `parts: ["a","b"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := "  a:\n    provision:\n      - shell-local:\n          inline: [" + tc.inline + "]\n"
			cfg := resolvedConfig(t, src, "a@h", map[string]string{"x.txt": "from x.txt\n"})
			if diff := cmp.Diff([]string{tc.want}, cfg.Inline); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestExprKeepsType(t *testing.T) {
	src := "  a:\n    provision:\n      - shell-local:\n          inline: [\"true\"]\n          valid_exit_codes: ${{ vars.codes }}\n          env: {N: \"${{ len(vars.codes) }}\"}\n"
	cfg := resolvedConfig(t, src, "a@h", nil)
	if diff := cmp.Diff([]int{0, 3}, cfg.ValidExitCodes); diff != "" {
		t.Errorf("valid_exit_codes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"N": "2"}, cfg.Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
}

func TestExprErrors(t *testing.T) {
	prov := func(body string) string {
		return "  a:\n    provision:\n      - shell-local:\n" + body
	}
	for _, tc := range []struct {
		name string
		src  string
		want []string // substrings of the one error line, position first
	}{
		{"typo in a variable", prov("          inline: [\"${{ vars.sute }}\"]\n"),
			[]string{"pipe.yaml:12:30: ", `"vars.sute"`, "sute"}},
		// The position points at the name inside the string, as it does
		// for a whole-value expression.
		{"typo inside a string", prov("          inline: [\"echo ${{ vars.sute }}\"]\n"),
			[]string{"pipe.yaml:12:35: ", "sute"}},
		{"string into a list of ints", prov("          inline: [\"true\"]\n          valid_exit_codes: ${{ vars.suite }}\n"),
			[]string{`pipe.yaml:13:29: expression "vars.suite" is a string, expected a list`}},
		{"now is disabled", prov("          inline: [\"${{ now() }}\"]\n"),
			[]string{"pipe.yaml:12:", `"now()"`, "unknown name now"}},
		{"unknown function", prov("          inline: [\"${{ shasum('x') }}\"]\n"),
			[]string{"pipe.yaml:12:", "shasum"}},
		{"root cannot see stages", prov("          inline: [\"${{ stages.b.artifact.id }}\"]\n  b:\n    from: a\n"),
			[]string{"pipe.yaml:12:", `"stages.b.artifact.id"`, `"b"`}},
		{"sibling is not upstream", prov("          inline: [\"true\"]\n  b:\n    from: a\n    provision:\n      - shell-local: {inline: [\"true\"]}\n  c:\n    from: a\n    provision:\n      - shell-local: {inline: [\"${{ stages.b.artifact.id }}\"]}\n"),
			[]string{"pipe.yaml:20:", `"stages.b.artifact.id"`}},
		{"unterminated", prov("          inline: [\"${{ vars.suite \"]\n"),
			[]string{"pipe.yaml:12:", "unterminated ${{"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadSrc(t, exprHead+tc.src, nil, nil)
			if err == nil {
				t.Fatal("no error")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != 1 {
				t.Fatalf("want one error, got:\n%v", err)
			}
			got := lines[0][strings.Index(lines[0], "pipe.yaml"):]
			if !strings.HasPrefix(got, tc.want[0]) {
				t.Errorf("error %q does not start with %q", got, tc.want[0])
			}
			for _, w := range tc.want[1:] {
				if !strings.Contains(got, w) {
					t.Errorf("error %q does not contain %q", got, w)
				}
			}
		})
	}
}

func TestUpstreamArtifact(t *testing.T) {
	src := exprHead + `  a:
    provision:
      - shell-local: {inline: ["touch f"]}
  b:
    from: a
    provision:
      - shell-local: {inline: ["echo ${{ stages.a.artifact.id }}"]}
  c:
    from: b
    provision:
      - shell-local: {inline: ["echo ${{ stages.b.artifact.builder }} ${{ stages.b.artifact.output_id }}"]}
`
	// Only the from: stage is visible: a grandparent's artifact is not
	// known where a node runs (it once read as empty).
	grand := strings.Replace(src, "stages.b.artifact.builder", "stages.a.artifact.builder", 1)
	if _, err := loadSrc(t, grand, nil, nil); err == nil || !strings.Contains(err.Error(), `unknown stage "a": only upstream stages are visible here (b)`) {
		t.Errorf("grandparent reference: err = %v", err)
	}
	p, err := loadSrc(t, src, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t)
	res, err := p.Run(context.Background(), st, RunOptions{Jobs: 1})
	if err != nil || res.Failed() {
		t.Fatalf("run: %v %+v", err, res)
	}
	a, b := res.Nodes[0].Artifact, res.Nodes[1].Artifact
	nb, _ := p.Node("b@h")
	r, err := p.resolve(nb, a, st)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.provs[0].cfg.(*shelllocal.Config).Inline[0], "echo "+a.ID; got != want {
		t.Errorf("b inline = %q, want %q", got, want)
	}
	nc, _ := p.Node("c@h")
	r, err = p.resolve(nc, b, st)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.provs[0].cfg.(*shelllocal.Config).Inline[0], "echo null "+b.OutputID; got != want {
		t.Errorf("c inline = %q, want %q", got, want)
	}
}
