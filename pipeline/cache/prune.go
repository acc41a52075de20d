package cache

import (
	"fmt"
	"time"
)

// PruneOptions selects the records Prune removes. A record is removed when
// any rule selects it; with no rule set nothing is removed.
type PruneOptions struct {
	// Pipeline limits pruning to one pipeline; "" prunes all.
	Pipeline string
	// Keep keeps the newest Keep records of each node; 0 means no limit.
	Keep int
	// OlderThan removes records created more than OlderThan ago; 0 means
	// no limit.
	OlderThan time.Duration
	// DryRun reports what would be removed without removing it.
	DryRun bool
}

// Prune removes the records opts selects and returns them, each once, in
// List order. With DryRun it only returns them.
func (s *Store) Prune(opts PruneOptions) ([]*Record, error) {
	if opts.Keep < 0 || opts.OlderThan < 0 {
		return nil, fmt.Errorf("prune: negative keep %d or age %s", opts.Keep, opts.OlderThan)
	}
	recs, err := s.List(opts.Pipeline)
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	victims := pruneSelect(recs, opts, s.now())
	if opts.DryRun {
		return victims, nil
	}
	for i, r := range victims {
		if err := s.Delete(r); err != nil {
			return victims[:i], fmt.Errorf("prune: %w", err)
		}
	}
	return victims, nil
}

// pruneSelect picks from recs, sorted as List sorts them, the records that
// opts removes at time now.
func pruneSelect(recs []*Record, opts PruneOptions, now time.Time) []*Record {
	var victims []*Record
	cutoff := now.Add(-opts.OlderThan)
	for start := 0; start < len(recs); {
		end := start + 1
		for end < len(recs) && recs[end].Pipeline == recs[start].Pipeline && recs[end].Node == recs[start].Node {
			end++
		}
		// A node's records are sorted oldest first, so the number after r
		// in its group is r's rank from the newest.
		for i, r := range recs[start:end] {
			tooMany := opts.Keep > 0 && end-start-1-i >= opts.Keep
			tooOld := opts.OlderThan > 0 && r.Created.Before(cutoff)
			if tooMany || tooOld {
				victims = append(victims, r)
			}
		}
		start = end
	}
	return victims
}
