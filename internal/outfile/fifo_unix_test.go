//go:build unix

package outfile

// devNull is a device file every unix has.
const devNull = "/dev/null"
