package cas

// Objects at least pipelineMin bytes long are read by one goroutine and hashed
// by another, in pipelineChunk pieces, so a large Get costs about the larger
// of read time and hash time rather than their sum.
var pipelineMin = 8 << 20 // a variable so benchmarks can compare

const pipelineChunk = 2 << 20

// readFull calls read until p is full, read reports end of file (0, nil or
// io.EOF as the caller's read func maps it), or an error. A short count with
// a nil error means the file ended early.
func readFull(read func([]byte) (int, error), p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := read(p[n:])
		n += m
		if err != nil {
			return n, err
		}
		if m == 0 {
			break
		}
	}
	return n, nil
}

// readHash fills b with read and hashes it, returning how many bytes were
// read (fewer than len(b) if the file ended early) and the hash of those.
func readHash(read func([]byte) (int, error), b []byte) (int, ID, error) {
	if len(b) < pipelineMin {
		n, err := readFull(read, b)
		return n, Sum(b[:n]), err
	}
	ends := make(chan int, len(b)/pipelineChunk+1)
	var rerr error // written before close(ends), read after it
	go func() {
		defer close(ends)
		for off := 0; off < len(b); {
			end := min(off+pipelineChunk, len(b))
			n, err := readFull(read, b[off:end])
			off += n
			if n > 0 {
				ends <- off
			}
			if err != nil {
				rerr = err
				return
			}
			if off < end {
				return // end of file
			}
		}
	}()
	h := getHasher()
	defer putHasher(h)
	done := 0
	for end := range ends {
		h.Write(b[done:end])
		done = end
	}
	return done, sum(h), rerr
}
