// Package bridge lets one public package reach the engine behind another's
// type: the object store behind a cas.Store, for package outfile.
package bridge

import "github.com/pcache/pcache/internal/cas"

// Objects returns the object store behind a *cas.Store (of the public
// package cas, which sets it when it initialises).
var Objects func(store any) *cas.Store
