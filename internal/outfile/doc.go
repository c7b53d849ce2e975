// Package outfile captures the files a cached function writes into the object
// store and restores them to any requested path.
//
// # Capture
//
// After a cached function ran, [Capture] streams each declared out file into
// the content-addressed store and returns a [manifest.OutFile] record: the
// object ID, size, permission bits, and one [manifest.PathRecord] saying which
// absolute path held those bytes and with what size and modification time. A
// declared out file that does not exist, or is not a regular file (a
// directory, a device, a fifo), is an error wrapping [ErrMissing], so the
// caller caches nothing. A symbolic link is followed: the bytes of its target
// are captured and the link's own path is recorded.
//
// # Directories
//
// An out argument that names a directory is captured by [CaptureTree] as
// one record per file ("<arg>/<rel>", an object each) and per directory
// ("<arg>/", "<arg>/<rel>/", naming the empty object, holding its
// permission bits), so everything that carries an entry's objects carries
// the tree; [RestoreTree] builds the tree beside the requested path and
// exchanges it with what is there in one step, or leaves a tree that
// matches untouched.
//
// # Restore
//
// On a hit, [Restore] makes the requested path hold the recorded bytes:
//
//   - If the path already holds them it is left untouched. A recorded size and
//     modification time equal to the file's proves that without reading it;
//     otherwise a file of the right size is hashed and compared.
//   - Otherwise the object is copied (hash verified while copying) into a temp
//     file in the destination's directory, given the recorded permission bits,
//     and renamed over the path, so readers see the old file or the new one,
//     never a torn one. Missing parent directories are created (mode 0755
//     before umask), as the function itself would usually have done. An
//     existing path that is not a regular file (a directory, /dev/null, a
//     fifo) is never replaced: Restore fails with [ErrNotRegular]. A path that
//     is a symbolic link has its target replaced, as a write by the function
//     would have.
//   - If the object is missing or corrupt (a corrupt one is quarantined),
//     Restore looks for a recorded path that still holds exactly the bytes
//     (same size and BLAKE3 hash), copies from it and stores the object again.
//     When none does, it fails with [ErrUnavailable] and the caller recomputes.
//
// Restore reports whether the record changed (a path was added or its size and
// modification time refreshed); the caller appends the new record to the
// manifest only then. At most [MaxPaths] paths are kept, most recent last.
//
// # Trusting modification times
//
// A size and modification time can only prove a file unchanged if a later
// write would have changed the time. A write within the same clock tick as the
// recorded one (a whole second or two on coarse file systems) would not, so a
// path whose modification time was less than 50ms old when it was recorded
// (2s if the time is a whole second) is recorded with MtimeNs 0: "hash it
// before trusting it". The next Restore at that path hashes the file once and
// records a trustworthy time.
//
// # Hostile records
//
// Manifests may come from another machine. Restore only ever writes the path
// its caller asked for. Recorded paths are only read, only if they are regular
// files (checked with lstat and again on the open descriptor, opened
// non-blocking and, for the final component, without following links), and
// only when their size equals the record's, so a record naming a fifo, a
// device or a directory cannot make Restore hang, block or write there.
// Permission bits other than rwx (setuid, setgid, sticky) are never restored.
//
// # Platforms
//
// Linux and macOS are supported. Files are never read into memory whole:
// every copy and hash, here and in [cas.Store.CopyTo] and
// [cas.Store.PutReader], streams through a 1 MiB buffer.
//
// Restore needs write permission on the destination's directory, where it
// creates its temp file; it never writes into an existing file in place.
//
// On Windows the package builds and follows the same steps, but a rename
// cannot replace a file that another process holds open (without
// FILE_SHARE_DELETE). Restore then returns the rename error, removes its temp
// file and leaves the existing file as it was; the caller may retry later or
// recompute. A read-only file in the way is made writable first, as a rename
// there cannot replace it otherwise. Non-blocking opens and O_NOFOLLOW do not
// exist there; recorded paths are still checked to be regular files before
// and after opening.
package outfile
