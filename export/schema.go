package export

// Version is the export schema's version, written into every Parquet
// file's metadata (behavediff.export.version) and bumped when a column
// changes type or meaning; added columns do not bump it.
const Version = 1

// Type is a column's type in the export (the SQLite type of the view).
type Type int

// Column types.
const (
	Integer Type = iota // Parquet INT64, JSON number
	Text                // Parquet BYTE_ARRAY (STRING), JSON string
	Blob                // Parquet BYTE_ARRAY, JSON base64 string
	Real                // Parquet DOUBLE, JSON number
)

func (t Type) String() string { return [...]string{"integer", "text", "blob", "real"}[t] }

// parquetName is the Parquet physical/logical type shown in docs/export.md.
func (t Type) parquetName() string {
	return [...]string{"INT64", "BYTE_ARRAY (STRING)", "BYTE_ARRAY", "DOUBLE"}[t]
}

// Column is one exported column; every column is nullable (OPTIONAL).
type Column struct {
	Name string
	Type Type
}

// View is one exported view of the trace database (docs/schema.md): the
// same columns, in the same order (TestViewsMatchSchema).
type View struct {
	Name    string
	Columns []Column
}

// runColumn is the column that ties the view's rows to a run.
func (v View) runColumn() string {
	if v.Name == "runs" {
		return "id"
	}
	return "run_id"
}

// Views are the exported views.
var Views = []View{
	{Name: "runs", Columns: []Column{
		{"id", Integer},
		{"name", Text},
		{"command", Text},
		{"workspace", Text},
		{"started_at", Text},
		{"ended_at", Text},
		{"exit_code", Integer},
		{"status", Text},
		{"lost_events", Integer},
		{"duration_ms", Integer},
		{"replay_of", Integer},
		{"error", Text},
		{"file_event_count", Integer},
		{"net_event_count", Integer},
		{"priv_event_count", Integer},
		{"stdout", Blob},
		{"stderr", Blob},
		{"stdout_trunc", Integer},
		{"stderr_trunc", Integer},
		{"spec", Blob},
		{"tool_version", Text},
		{"started_ns", Integer},
		{"ended_ns", Integer},
		{"memory_limit", Integer},
		{"pids_limit", Integer},
		{"disk_limit", Integer},
		{"tmpfs_limit", Integer},
		{"cpu_limit", Real},
		{"limits_hit", Text},
	}},
	{Name: "processes", Columns: []Column{
		{"run_id", Integer},
		{"pid", Integer},
		{"ppid", Integer},
		{"exe", Text},
		{"argv", Text},
		{"cwd", Text},
		{"uid", Integer},
		{"started_at", Integer},
		{"exited_at", Integer},
		{"exit_code", Integer},
		{"idx", Integer},
		{"parent_idx", Integer},
		{"exit_signal", Integer},
		{"chain", Text},
	}},
	{Name: "file_events", Columns: []Column{
		{"run_id", Integer},
		{"pid", Integer},
		{"exe", Text},
		{"op", Text},
		{"path", Text},
		{"flags", Integer},
		{"result", Integer},
		{"error", Text},
		{"ts", Integer},
		{"path2", Text},
		{"mode", Integer},
		{"seq", Integer},
		{"proc_idx", Integer},
		{"access", Text},
	}},
	{Name: "net_events", Columns: []Column{
		{"run_id", Integer},
		{"pid", Integer},
		{"exe", Text},
		{"op", Text},
		{"family", Text},
		{"address", Text},
		{"port", Integer},
		{"result", Integer},
		{"error", Text},
		{"ts", Integer},
		{"domain", Text},
		{"sock_type", Text},
		{"qtype", Text},
		{"seq", Integer},
		{"proc_idx", Integer},
	}},
	{Name: "priv_events", Columns: []Column{
		{"run_id", Integer},
		{"pid", Integer},
		{"exe", Text},
		{"syscall", Text},
		{"args", Text},
		{"result", Integer},
		{"error", Text},
		{"ts", Integer},
		{"seq", Integer},
		{"proc_idx", Integer},
	}},
	{Name: "syscalls", Columns: []Column{
		{"run_id", Integer},
		{"pid", Integer},
		{"exe", Text},
		{"name", Text},
		{"count", Integer},
		{"errors", Integer},
		{"proc_idx", Integer},
	}},
	{Name: "fs_changes", Columns: []Column{
		{"run_id", Integer},
		{"path", Text},
		{"change", Text},
		{"size", Integer},
		{"sha256", Text},
		{"is_dir", Integer},
	}},
	{Name: "lost_events", Columns: []Column{
		{"run_id", Integer},
		{"class", Text},
		{"count", Integer},
	}},
	{Name: "checks", Columns: []Column{
		{"id", Integer},
		{"run_id", Integer},
		{"spec", Text},
		{"command", Text},
		{"status", Text},
		{"fail_on", Text},
		{"error", Text},
		{"checked_at", Text},
		{"finding_count", Integer},
		{"worst_level", Text},
		{"tool_version", Text},
		{"checked_ns", Integer},
	}},
	{Name: "findings", Columns: []Column{
		{"check_id", Integer},
		{"run_id", Integer},
		{"spec", Text},
		{"level", Text},
		{"rule_id", Text},
		{"kind", Text},
		{"change", Text},
		{"section", Text},
		{"subject", Text},
		{"reason", Text},
		{"process", Text},
		{"query", Text},
		{"fingerprint", Text},
		{"check_status", Text},
		{"idx", Integer},
	}}}
