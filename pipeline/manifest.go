package pipeline

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	"github.com/pipebuild/pipe/builders"
)

// Manifest is pipe-manifest.json: every node of a run, for Terraform and
// other consumers.
type Manifest struct {
	Pipeline string          `json:"pipeline"`
	Time     time.Time       `json:"time"`
	Nodes    []ManifestEntry `json:"nodes"`
}

// ManifestEntry is one node in the manifest.
type ManifestEntry struct {
	Node     string             `json:"node"`
	Stage    string             `json:"stage"`
	Builder  string             `json:"builder"`
	Status   Status             `json:"status"`
	Reason   string             `json:"reason,omitempty"`
	Artifact *builders.Artifact `json:"artifact,omitempty"`
	ActionID string             `json:"action_id,omitempty"`
	OutputID string             `json:"output_id,omitempty"`
	Parent   string             `json:"parent,omitempty"`
	Duration string             `json:"duration,omitempty"`
}

// Manifest builds the manifest of a run's result.
func (p *Pipeline) Manifest(res *Result) *Manifest {
	m := &Manifest{Pipeline: p.Name, Time: time.Now().UTC()}
	for _, r := range res.Nodes {
		e := ManifestEntry{Node: r.Node.Name, Stage: r.Node.Stage, Builder: r.Node.BuilderName,
			Status: r.Status, Reason: maskString(r.Reason, p.Secrets), Artifact: r.Artifact, ActionID: string(r.ActionID)}
		if r.Artifact != nil {
			e.OutputID = r.Artifact.OutputID
		}
		if r.Node.Up != nil {
			e.Parent = r.Node.Up.Name
		}
		if r.Duration > 0 {
			e.Duration = r.Duration.Round(time.Millisecond).String()
		}
		m.Nodes = append(m.Nodes, e)
	}
	return m
}

// WriteFile writes the manifest atomically.
func (m *Manifest) WriteFile(path string) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".pipe-manifest-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
