package maintain

import (
	"os"
	"testing"

	"github.com/pcache/pcache/internal/testutil"
)

func TestMain(m *testing.M) { os.Exit(testutil.Run(m)) }
