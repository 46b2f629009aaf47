package diff

import (
	"fmt"
	"strings"
)

// Level is how risky a difference is. Higher is worse.
type Level int

const (
	None     Level = iota // informational; shown only with --verbose
	Low                   // new syscalls, removed behaviour, new command lines
	Medium                // reads outside system paths, unix sockets
	High                  // new programs, egress, listening, writes outside the workspace
	Critical              // secrets, persistence, setuid, privilege syscalls, download-and-execute
)

var levelNames = []string{"none", "low", "medium", "high", "critical"}

func (l Level) String() string {
	if l >= None && int(l) < len(levelNames) {
		return levelNames[l]
	}
	return fmt.Sprintf("level(%d)", int(l))
}

// ParseLevel reads a level name as given to --fail-on (case-insensitive;
// "info" is accepted for none).
func ParseLevel(s string) (Level, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "info" {
		return None, nil
	}
	for i, n := range levelNames {
		if s == n {
			return Level(i), nil
		}
	}
	return None, fmt.Errorf("unknown level %q (want one of %s)", s, strings.Join(levelNames, ", "))
}

// MarshalText renders the level's name (JSON output uses it).
func (l Level) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText parses a level name.
func (l *Level) UnmarshalText(b []byte) error {
	v, err := ParseLevel(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}
