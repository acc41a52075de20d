package cache

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLedger(t *testing.T) {
	s, _ := openStore(t)
	l, err := s.StartRun()
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(l.Record("key-pair/a", map[string]string{"kind": "key-pair", "name": "a"}))
	must(l.Record("instance/i", map[string]string{"kind": "instance"}))
	must(l.Record("instance/i", map[string]string{"kind": "instance", "id": "i-1"}))
	must(l.Forget("key-pair/a"))

	runs, err := s.Runs()
	if err != nil || len(runs) != 1 {
		t.Fatalf("Runs = %+v, %v", runs, err)
	}
	if !runs[0].Alive || !s.RunAlive(l.ID) {
		t.Errorf("this process's run is not alive")
	}
	var got []map[string]string
	for _, e := range runs[0].Outstanding {
		var m map[string]string
		must(json.Unmarshal(e, &m))
		got = append(got, m)
	}
	if diff := cmp.Diff([]map[string]string{{"kind": "instance", "id": "i-1"}}, got); diff != "" {
		t.Errorf("outstanding (-want +got):\n%s", diff)
	}
	// A run that still owes clean-up keeps its files when it ends.
	must(l.Close())
	if runs, _ := s.Runs(); len(runs) != 1 {
		t.Errorf("runs after Close = %d, want 1", len(runs))
	}
	must(s.RemoveRun(l.ID))
	if runs, _ := s.Runs(); len(runs) != 0 {
		t.Errorf("runs after RemoveRun = %d", len(runs))
	}

	// A run that cleaned up after itself leaves nothing.
	l2, err := s.StartRun()
	must(err)
	must(l2.Record("sg/x", "x"))
	must(l2.Forget("sg/x"))
	must(l2.Close())
	if runs, _ := s.Runs(); len(runs) != 0 {
		t.Errorf("a clean run left %d runs", len(runs))
	}
}

// A run whose process is gone is dead, even if its PID is reused: the
// registration keeps the process's start time. A torn last ledger line (a
// crash mid-write) is ignored.
func TestLedgerDeadRun(t *testing.T) {
	s, _ := openStore(t)
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(s.Dir(), runsDir)
	os.MkdirAll(dir, 0o700)
	info, _ := json.Marshal(runInfo{ID: "r1", PID: cmd.Process.Pid, StartTime: 12345})
	os.WriteFile(filepath.Join(dir, "r1.json"), info, 0o600)
	os.WriteFile(filepath.Join(dir, "r1.ledger"), []byte(`{"op":"record","key":"k","entry":{"id":"i-9"}}`+"\n"+`{"op":"rec`), 0o600)
	runs, err := s.Runs()
	if err != nil || len(runs) != 1 {
		t.Fatalf("Runs = %+v, %v", runs, err)
	}
	if runs[0].Alive {
		t.Error("a finished process's run is alive")
	}
	if len(runs[0].Outstanding) != 1 || string(runs[0].Outstanding[0]) != `{"id":"i-9"}` {
		t.Errorf("outstanding = %s", runs[0].Outstanding)
	}
}
