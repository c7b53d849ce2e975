package remote

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// ErrNoBackend is wrapped by OpenBackend's error for a URL whose scheme no
// backend linked into the program handles: for s3:// the message names the
// import that adds it.
var ErrNoBackend = errors.New("remote: no backend for the URL's scheme is linked into this program")

// OpenFunc opens the backend a URL of its scheme names. The URL has no user
// or password and no fragment; the function checks the rest (host, path,
// query parameters) and names the URL in its errors with RedactURL.
type OpenFunc func(ctx context.Context, u *url.URL) (Backend, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]OpenFunc{}
)

// knownBackends are the backends of this module that a program links in
// by importing their package (the AWS SDK that S3 needs adds megabytes to
// a binary): a URL of their scheme in a program without the import is
// answered with the line to add.
var knownBackends = map[string]string{"s3": "github.com/pcache/pcache/remote/s3"}

// Register makes OpenBackend open URLs of scheme with open. A backend
// package calls it from its init function, as database/sql drivers
// register themselves; programs enable the backend with a blank import:
//
//	import _ "github.com/pcache/pcache/remote/s3"
//
// Register panics if scheme is empty or "file" (built in), if open is nil
// or if scheme is registered already: each is a mistake in the program,
// not in its input.
func Register(scheme string, open OpenFunc) {
	if scheme == "" || scheme == "file" || scheme != strings.ToLower(scheme) || open == nil {
		panic(fmt.Sprintf("remote: Register(%q): want a lower-case scheme other than file and a non-nil open function", scheme))
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[scheme]; dup {
		panic(fmt.Sprintf("remote: Register(%q) called twice", scheme))
	}
	registry[scheme] = open
}

// schemes lists the schemes OpenBackend knows, for messages: file, the
// registered ones and the known ones a program may import.
func schemes() string {
	registryMu.RLock()
	all := []string{"file"}
	for s := range registry {
		all = append(all, s)
	}
	registryMu.RUnlock()
	for s := range knownBackends {
		all = append(all, s)
	}
	slices.Sort(all)
	return strings.Join(slices.Compact(all), " or ")
}

// OpenBackend returns the backend a URL names: file:///PATH (a directory,
// such as an NFS mount, shared by the machines), or a URL of a registered
// scheme, such as s3://BUCKET[/PREFIX][?region=R&endpoint=URL] in a program
// that imports package github.com/pcache/pcache/remote/s3 (without it, the
// error wraps ErrNoBackend and names the import to add). Credentials never
// go in the URL (they come from the standard AWS variables): a URL with a
// user or password is refused, and no error repeats it.
func OpenBackend(ctx context.Context, rawURL string) (Backend, error) {
	shown := RedactURL(rawURL)
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("remote: %q: not a URL", shown)
	}
	if u.User != nil {
		return nil, fmt.Errorf("remote: %q: credentials do not go in the URL (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile)", shown)
	}
	if u.Fragment != "" || strings.HasSuffix(rawURL, "#") {
		return nil, fmt.Errorf("remote: %q: a remote URL has no fragment (#...)", shown)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("remote: %q: a file URL names a local path (file:///PATH)", shown)
		}
		if u.RawQuery != "" || u.ForceQuery {
			return nil, fmt.Errorf("remote: %q: a file URL takes no query parameters (write a ? in a path as %%3F)", shown)
		}
		if u.Path == "" {
			return nil, fmt.Errorf("remote: %q: no path", shown)
		}
		return NewFileBackend(u.Path)
	case "":
		return nil, fmt.Errorf("remote: %q: want s3://BUCKET/PREFIX or file:///PATH", shown)
	}
	registryMu.RLock()
	open := registry[u.Scheme]
	registryMu.RUnlock()
	if open != nil {
		return open(ctx, u)
	}
	if pkg, ok := knownBackends[u.Scheme]; ok {
		return nil, fmt.Errorf("%w (%q); the %s backend is a package of its own: add import _ %q to the program",
			ErrNoBackend, shown, strings.ToUpper(u.Scheme), pkg)
	}
	return nil, fmt.Errorf("%w (%q): unsupported scheme %q (want %s)", ErrNoBackend, shown, u.Scheme, schemes())
}
