package remote

// The environment variables of the remote tier (documented in package
// pcache's doc).
const (
	EnvRemote      = "PCACHE_REMOTE"       // the remote's URL
	EnvRemoteMode  = "PCACHE_REMOTE_MODE"  // "ro" or "rw"
	EnvRemoteFlush = "PCACHE_REMOTE_FLUSH" // how long Close waits for publishing
)
