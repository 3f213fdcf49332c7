// Package devicefile reads the device description file that provisioning
// writes on each device (for example /etc/fleetlog/device.yaml).
package devicefile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"go.yaml.in/yaml/v3"
)

// maxFileBytes bounds the file; a device description is a few hundred bytes.
const maxFileBytes = 1 << 20

// ErrTooLarge is returned for a file over maxFileBytes.
var ErrTooLarge = errors.New("device file is larger than 1MiB")

// Device is the file's content. Every field is optional. Its keys are the
// same as the processor's `device` config block, plus `labels`.
type Device struct {
	ID              string            `yaml:"id"`
	Fleet           string            `yaml:"fleet"`
	Site            string            `yaml:"site"`
	Region          string            `yaml:"region"`
	Environment     string            `yaml:"environment"`
	Model           string            `yaml:"model"`
	FirmwareVersion string            `yaml:"firmware_version"`
	Labels          map[string]string `yaml:"labels"`
}

// Parse reads YAML or JSON (JSON is YAML). Unknown keys are errors, so a typo
// does not silently drop a value. Scalars keep their text: firmware_version:
// 4.10 is "4.10", not 4.1.
func Parse(data []byte) (Device, error) {
	var d Device
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&d); err != nil && !errors.Is(err, io.EOF) {
		return Device{}, err
	}
	return d, nil
}

// Load reads the file at path. A file that does not exist yields an empty
// Device and found == false.
func Load(path string) (d Device, found bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Device{}, false, nil
	}
	if err != nil {
		return Device{}, false, fmt.Errorf("open device file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return Device{}, true, fmt.Errorf("read device file %s: %w", path, err)
	}
	if len(data) > maxFileBytes {
		return Device{}, true, fmt.Errorf("%s: %w", path, ErrTooLarge)
	}
	d, err = Parse(data)
	if err != nil {
		return Device{}, true, fmt.Errorf("parse device file %s: %w", path, err)
	}
	return d, true, nil
}
