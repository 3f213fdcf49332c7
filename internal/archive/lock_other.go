//go:build !linux

package archive

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockDir creates dir/.lock. Off Linux it takes no lock: fleetlog's gateway
// runs on Linux, and other platforms only read archives.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, privateFilePerm)
	if err != nil {
		return nil, fmt.Errorf("lock archive %s: %w", dir, err)
	}
	return f, nil
}
