package stages

import (
	"fmt"
	"strings"
	"time"
)

// Duration is a time.Duration written in the pipeline file as a Go duration
// string ("90s", "5m", "1h30m"). It implements encoding.TextUnmarshaler so
// that the schema decoder reads it from a YAML string rather than from an
// integer of nanoseconds, which nobody writes by hand.
type Duration time.Duration

// UnmarshalText parses a duration string; an empty string is zero.
func (d *Duration) UnmarshalText(text []byte) error {
	if len(text) == 0 {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("invalid duration %q: %w", text, err)
	}
	if v < 0 {
		return fmt.Errorf("invalid duration %q: must not be negative", text)
	}
	*d = Duration(v)
	return nil
}

// MarshalText renders d as UnmarshalText reads it.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// String renders d the way users write it: "5m" rather than time's "5m0s".
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
