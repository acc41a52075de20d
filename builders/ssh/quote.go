package ssh

import (
	"fmt"
	"strings"
)

// quote single-quotes s for a POSIX shell; a quote inside s closes the
// quoting, adds an escaped quote and reopens it. Nothing else is special
// between single quotes, so any byte string survives.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// exports turns KEY=VALUE pairs into "export KEY='VALUE'; " assignments.
// A key that is not a shell name is an error rather than a quoted word:
// sh would run "export 'A B'=1" as a failing command, not set a variable.
func exports(env []string) (string, error) {
	var b strings.Builder
	for _, kv := range env {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !isName(name) {
			return "", fmt.Errorf("environment variable %q: want NAME=VALUE with NAME a shell name", kv)
		}
		fmt.Fprintf(&b, "export %s=%s; ", name, quote(value))
	}
	return b.String(), nil
}

// isName reports whether s is a POSIX shell variable name.
func isName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z':
		case '0' <= r && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
