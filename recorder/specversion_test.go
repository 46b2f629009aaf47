package recorder

import (
	"strings"
	"testing"
)

// A spec of an older format still replays; a newer one is refused rather
// than replayed without the fields this build does not know (a network
// policy, limits, a user).
func TestSpecVersion(t *testing.T) {
	for v := 1; v <= SpecVersion; v++ {
		s := Spec{Version: v}
		if err := s.CheckVersion(); err != nil {
			t.Errorf("version %d: %v", v, err)
		}
	}
	newer := Spec{Version: SpecVersion + 1}
	err := newer.CheckVersion()
	if err == nil || !strings.Contains(err.Error(), "newer than this behavediff") {
		t.Errorf("version %d: got %v, want a refusal", SpecVersion+1, err)
	}
	s, err := UnmarshalSpec([]byte(`{"version":1,"args":["true"],"workspace":"/w"}`))
	if err != nil || s.Version != 1 {
		t.Errorf("a version-1 spec: %+v, %v", s, err)
	}
}
