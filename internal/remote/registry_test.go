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
	t.Parallel()
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

// TestOpenBackendRefuses: what no backend gets to see.
func TestOpenBackendRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, u := range []string{
		"file://" + dir + "?mode=ro", // a file URL has no parameters
		"file://" + dir + "?",
		"file://" + dir + "#x",
		"file://host" + dir,
		"file:",
		"bucket/prefix",
		"s3://bucket/p#frag",
	} {
		if b, err := OpenBackend(context.Background(), u); err == nil {
			t.Errorf("%s: accepted as %s", u, b)
		} else if !strings.HasPrefix(err.Error(), "remote: ") {
			t.Errorf("%s: %v", u, err)
		}
	}
}

// TestRegisterRefusesMistakes: Register panics on what only a program's
// own code can get wrong.
func TestRegisterRefusesMistakes(t *testing.T) {
	t.Parallel()
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

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"s3://bucket/prefix", "s3://bucket/prefix"},
		{"s3://KEY:SECRET@bucket/p", "s3://REDACTED@bucket/p"},
		{"s3://KEY:SE/CR?E#T@bucket/p", "s3://REDACTED@bucket/p"},
		{"s3://b/p?endpoint=http://KEY:SECRET@host:9000", "s3://REDACTED@host:9000"},
		{"s3://b/p?region=eu-west-1&secret=SECRET&SECRET&", "s3://b/p?region=...&secret=...&...&"},
		{"s3://b/p#SECRET", "s3://b/p#..."},
		{"s3://b/p?x=SECRET#SECRET", "s3://b/p?x=...#..."},
		{"s3://b/p?endpoint=http%3A%2F%2FKEY%3ASECRET%40host", "s3://REDACTED%40host"},
		{"KEY:SECRET@bucket", "REDACTED@bucket"},
		{"file:///tmp/x", "file:///tmp/x"},
	} {
		if got := RedactURL(tc.in); got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
