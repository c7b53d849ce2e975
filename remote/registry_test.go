package remote

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
)

// register registers open under scheme for the test only.
func register(t *testing.T, scheme string, open OpenFunc) {
	t.Helper()
	Register(scheme, open)
	t.Cleanup(func() {
		registryMu.Lock()
		delete(registry, scheme)
		registryMu.Unlock()
	})
}

// TestOpenBackendDispatches: a registered scheme's URL reaches its open
// function whole (host, path, query); a scheme pcache has a package for
// but the program does not import is refused with ErrNoBackend and the
// import line; any other scheme is refused naming the ones there are.
func TestOpenBackendDispatches(t *testing.T) {
	ctx := context.Background()
	var got *url.URL
	register(t, "fake", func(_ context.Context, u *url.URL) (Backend, error) {
		got = u
		return NewFileBackend(t.TempDir())
	})
	if _, err := OpenBackend(ctx, "fake://bucket/a/b?region=x"); err != nil {
		t.Fatal(err)
	}
	if got == nil || got.Host != "bucket" || got.Path != "/a/b" || got.RawQuery != "region=x" {
		t.Fatalf("the open function got %v", got)
	}

	knownBackends["lost"] = "example.com/lost"
	t.Cleanup(func() { delete(knownBackends, "lost") })
	for _, tc := range []struct {
		url, want string
	}{
		{"lost://bucket/p", `add import _ "example.com/lost" to the program`},
		{"ftp://host/p", `unsupported scheme "ftp" (want fake or file or lost`},
	} {
		_, err := OpenBackend(ctx, tc.url)
		if !errors.Is(err, ErrNoBackend) || !strings.Contains(err.Error(), tc.want) || strings.Count(err.Error(), "remote:") != 1 {
			t.Errorf("%s: %v; want ErrNoBackend saying %s", tc.url, err, tc.want)
		}
	}
}

// TestRegisterRefusesMistakes: Register panics on what only a program's
// own code can get wrong.
func TestRegisterRefusesMistakes(t *testing.T) {
	open := func(context.Context, *url.URL) (Backend, error) { return nil, nil }
	register(t, "twice", open)
	for _, tc := range []struct {
		scheme string
		open   OpenFunc
	}{{"", open}, {"file", open}, {"S3X", open}, {"nilfunc", nil}, {"twice", open}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%q) did not panic", tc.scheme)
				}
			}()
			Register(tc.scheme, tc.open)
		}()
	}
}
