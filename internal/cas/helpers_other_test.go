//go:build !unix

package cas

import "errors"

func mkfifo(path string) error { return errors.ErrUnsupported }
