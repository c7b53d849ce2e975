package surface

import "testing"

// maxNames is the module's exported-name count as of the last change that
// changed it (issue 23 caps it at 150; issue 24's Compress took the last
// one): a change that adds public names must raise it here, in review, on
// purpose.
const maxNames = 150

// TestSurfaceDoesNotGrow counts the module's importable exported names.
func TestSurfaceDoesNotGrow(t *testing.T) {
	per, err := Count("../../../..")
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, n := range per {
		total += n
	}
	if per["."] == 0 || per["cas"] == 0 {
		t.Fatalf("counted %v: the walk missed the module's packages", per)
	}
	if total > maxNames {
		t.Fatalf("the module exports %d names (%v), more than %d: make new names unexported or internal, or raise maxNames on purpose", total, per, maxNames)
	}
	t.Logf("%d exported names: %v", total, per)
}
