package report

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/behavediff/behavediff/diff"
)

// Format names an output format.
type Format string

// Formats.
const (
	Text     Format = "text"
	JSON     Format = "json"
	SARIF    Format = "sarif"
	JUnitXML Format = "junit"
	Markdown Format = "markdown"
)

// Formats lists every format, for --help and validation.
var Formats = []Format{Text, JSON, SARIF, JUnitXML, Markdown}

// ErrUnknownFormat is returned for a format name that is not one of Formats.
var ErrUnknownFormat = errors.New("unknown report format")

// ParseFormat reads a format name ("md" is accepted for markdown).
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case Text, JSON, SARIF, JUnitXML, Markdown:
		return f, nil
	case "md":
		return Markdown, nil
	}
	return "", fmt.Errorf("%w %q (want one of %s)", ErrUnknownFormat, s, formatList())
}

func formatList() string {
	s := make([]string, len(Formats))
	for i, f := range Formats {
		s[i] = string(f)
	}
	return strings.Join(s, ", ")
}

// FormatOfFile guesses a format from a file name's extension.
func FormatOfFile(name string) (Format, bool) {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".json":
		return JSON, true
	case ".sarif":
		return SARIF, true
	case ".xml":
		return JUnitXML, true
	case ".md", ".markdown":
		return Markdown, true
	case ".txt":
		return Text, true
	}
	return "", false
}

// Write renders d in format f.
func Write(w io.Writer, f Format, d Document) error {
	switch f {
	case Text:
		return diff.WriteText(w, d.DiffReport())
	case JSON:
		return writeJSON(w, d)
	case SARIF:
		return WriteSARIF(w, d)
	case JUnitXML:
		return WriteJUnit(w, d)
	case Markdown:
		return WriteMarkdown(w, d)
	}
	return fmt.Errorf("%w %q", ErrUnknownFormat, f)
}

// Output is one --output FORMAT=FILE request.
type Output struct {
	Format Format
	Path   string
}

// ParseOutput reads "FORMAT=FILE", or "FILE" whose extension names the
// format (.json .sarif .xml .md .txt).
func ParseOutput(s string) (Output, error) {
	if k, v, ok := strings.Cut(s, "="); ok && k != "" && !strings.ContainsAny(k, "/.") {
		f, err := ParseFormat(k)
		if err != nil {
			return Output{}, err
		}
		if v == "" {
			return Output{}, fmt.Errorf("--output %s: no file name after =", s)
		}
		return Output{Format: f, Path: v}, nil
	}
	f, ok := FormatOfFile(s)
	if !ok {
		return Output{}, fmt.Errorf("--output %q: say the format as FORMAT=FILE (one of %s)", s, formatList())
	}
	return Output{Format: f, Path: s}, nil
}

// WriteFile renders d into path atomically (a temp file renamed into
// place), so a reader never sees half a report; "-" writes to stdout.
// When path is an existing file that is not ours to truncate, such as
// $GITHUB_STEP_SUMMARY, use AppendFile.
func WriteFile(path string, f Format, d Document) error {
	if path == "-" {
		return Write(os.Stdout, f, d)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write report %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := Write(tmp, f, d); err != nil {
		tmp.Close()
		return fmt.Errorf("write report %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write report %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write report %s: %w", path, err)
	}
	return nil
}

// AppendFile appends d's Markdown to path (the job summary file CI systems
// hand every step, which other steps also append to).
func AppendFile(path string, d Document) error {
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("summary %s: %w", path, err)
	}
	if err := WriteMarkdown(fh, d); err != nil {
		fh.Close()
		return fmt.Errorf("summary %s: %w", path, err)
	}
	return fh.Close()
}
