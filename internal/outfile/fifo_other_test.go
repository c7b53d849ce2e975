//go:build !unix

package outfile

const devNull = "NUL"
