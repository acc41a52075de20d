package builders

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// UndoTimeout bounds how long all undos of one node may take once the run has
// been cancelled.
const UndoTimeout = 5 * time.Minute

// Undo is a stack of clean-up actions. A step that creates something pushes
// its undo before the next step runs; Run pops them in reverse order under a
// context that survives cancellation of the run.
type Undo struct {
	mu    sync.Mutex
	steps []undoStep
}

type undoStep struct {
	name string
	fn   func(ctx context.Context) error
}

// Push registers fn, described by name, to run at clean-up.
func (u *Undo) Push(name string, fn func(ctx context.Context) error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.steps = append(u.steps, undoStep{name, fn})
}

// Len reports how many undos are pending.
func (u *Undo) Len() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.steps)
}

// Run executes every pending undo in reverse order, even after ctx is
// cancelled, and returns all their errors joined.
func (u *Undo) Run(ctx context.Context) error {
	u.mu.Lock()
	steps := u.steps
	u.steps = nil
	u.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), UndoTimeout)
	defer cancel()
	var errs []error
	for i := len(steps) - 1; i >= 0; i-- {
		if err := steps[i].fn(ctx); err != nil {
			errs = append(errs, fmt.Errorf("undo %s: %w", steps[i].name, err))
		}
	}
	return errors.Join(errs...)
}
