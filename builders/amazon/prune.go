package amazon

import (
	"context"
	"errors"
	"fmt"

	"github.com/pipebuild/pipe/builders"
)

var _ builders.Pruner = (*Builder)(nil)

// Prune implements builders.Pruner: it deregisters every region's AMI of
// an artifact whose cache record was pruned, and deletes its snapshots.
// AMIs already gone are skipped.
func (b *Builder) Prune(ctx context.Context, a *builders.Artifact, dryRun bool) (bool, error) {
	found := false
	var errs []error
	for region, id := range amis(a) {
		cl, err := b.clients.get(ctx, region)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		im, err := describeImage(ctx, cl, id)
		if isNotFound(err) || (err == nil && im == nil) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("AMI %s in %s: %w", id, region, err))
			continue
		}
		found = true
		if dryRun {
			continue
		}
		if err := deregister(ctx, cl, newWaiter(1), im, cleanTimeout); err != nil {
			errs = append(errs, fmt.Errorf("AMI %s in %s: %w", id, region, err))
		}
	}
	return found, errors.Join(errs...)
}
