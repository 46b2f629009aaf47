package htmlreport

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/behavediff/behavediff/store"
)

//go:embed report.html
var page []byte

// Write renders d as one HTML page. The data goes into a JSON script block;
// encoding/json escapes <, > and & there, so no value can end the block.
func Write(w io.Writer, d *Data) error {
	i := bytes.Index(page, []byte("/*DATA*/"))
	b, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	for _, part := range [][]byte{page[:i], b, page[i+len("/*DATA*/"):]} {
		if _, err := w.Write(part); err != nil {
			return fmt.Errorf("html report: %w", err)
		}
	}
	return nil
}

// WriteFile gathers run id from db and writes its report to path
// atomically (a temporary file renamed into place).
func WriteFile(ctx context.Context, db *store.DB, id int64, path, tool string) error {
	d, err := Gather(ctx, db, id, DefaultCaps, tool)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("html report %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := Write(tmp, d); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("html report %s: %w", path, err)
	}
	return os.Rename(tmp.Name(), path)
}
