// Package secrets is the one table of credential locations on a host. The
// sandbox masks every entry that names a concrete place (so the content never
// reaches a command under test), and the diff's risk policy rates a read of
// any entry critical (so even a masked attempt is flagged). Keeping both in
// one list means the sandbox can never hide less than the diff warns about.
package secrets
