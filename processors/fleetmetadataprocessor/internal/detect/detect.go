// Package detect finds what a device can say about itself without
// configuration: a stable device ID, its host name and its operating system.
package detect

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Device ID sources, in the order they are tried.
const (
	SourceMachineID   = "machine-id"
	SourceProductUUID = "dmi-product-uuid"
	SourceHostName    = "host-name"
)

// appID keys the device ID derived from the machine ID. The machine ID itself
// is confidential (machine-id(5)): it is never sent, only this application
// specific ID, which `systemd-id128 machine-id --app-specific=<appID>` prints
// too.
const appID = "5e1d3c2b9a8f4e07b6c5d4e3f2a1b0c9"

// maxFileBytes bounds what is read from the identity files, which are tiny.
const maxFileBytes = 64 * 1024

var (
	// ErrMachineIDInvalid is returned for a machine ID that is not 32 hex digits.
	ErrMachineIDInvalid = errors.New("not 32 hexadecimal digits")
	// ErrMachineIDUninitialized is returned during systemd's first boot,
	// before the machine ID is committed.
	ErrMachineIDUninitialized = errors.New("uninitialized (first boot)")
	// ErrProductUUIDInvalid is returned for a missing or placeholder DMI UUID.
	ErrProductUUIDInvalid = errors.New("not a usable UUID")
)

// Paths locates the files detection reads; an empty path skips that source.
type Paths struct {
	MachineID   string
	ProductUUID string
	OSRelease   string
}

// Result is what detection found. Empty fields were not found; Problems says
// why, one entry per source that was tried and failed.
type Result struct {
	DeviceID       string
	DeviceIDSource string
	HostName       string
	OSType         string
	OSVersion      string
	Problems       []error
}

// Detect reads every source once.
func Detect(p Paths, hostname func() (string, error)) Result {
	r := Result{OSType: osType}
	host, err := hostname()
	if err != nil {
		r.Problems = append(r.Problems, fmt.Errorf("host name: %w", err))
	} else {
		r.HostName = host
	}

	if id, err := machineID(p.MachineID); err != nil {
		r.Problems = append(r.Problems, err)
	} else {
		r.DeviceID, r.DeviceIDSource = id, SourceMachineID
	}
	if r.DeviceID == "" {
		if id, err := productUUID(p.ProductUUID); err != nil {
			r.Problems = append(r.Problems, err)
		} else {
			r.DeviceID, r.DeviceIDSource = id, SourceProductUUID
		}
	}
	// A host name is a last resort: images are cloned with it.
	if r.DeviceID == "" && r.HostName != "" {
		r.DeviceID, r.DeviceIDSource = r.HostName, SourceHostName
	}

	if p.OSRelease != "" {
		if rel, err := readOSRelease(p.OSRelease); err != nil {
			r.Problems = append(r.Problems, err)
		} else {
			r.OSVersion = rel["VERSION_ID"]
		}
	}
	return r
}

func machineID(path string) (string, error) {
	if path == "" {
		return "", errors.New("machine ID: no path configured")
	}
	raw, err := readSmall(path)
	if err != nil {
		return "", fmt.Errorf("machine ID: %w", err)
	}
	id := strings.TrimSpace(raw)
	if id == "uninitialized" {
		return "", fmt.Errorf("machine ID %s: %w", path, ErrMachineIDUninitialized)
	}
	key, err := hex.DecodeString(id)
	if err != nil || len(key) != 16 {
		return "", fmt.Errorf("machine ID %s: %w", path, ErrMachineIDInvalid)
	}
	return AppSpecificID(key), nil
}

// AppSpecificID derives fleetlog's ID from a 16-byte machine ID the way
// sd_id128_get_machine_app_specific(3) does: HMAC-SHA256 keyed by the machine
// ID over the application ID, truncated to 128 bits and marked as a version 4
// UUID.
func AppSpecificID(machineID []byte) string {
	app, _ := hex.DecodeString(appID)
	mac := hmac.New(sha256.New, machineID)
	mac.Write(app)
	sum := mac.Sum(nil)[:16]
	sum[6] = sum[6]&0x0f | 0x40
	sum[8] = sum[8]&0x3f | 0x80
	return hex.EncodeToString(sum)
}

func productUUID(path string) (string, error) {
	if path == "" {
		return "", errors.New("DMI product UUID: no path configured")
	}
	raw, err := readSmall(path)
	if err != nil {
		return "", fmt.Errorf("DMI product UUID: %w", err)
	}
	id := strings.ToLower(strings.TrimSpace(raw))
	digits := strings.ReplaceAll(id, "-", "")
	b, err := hex.DecodeString(digits)
	// Firmware that never set a UUID reports all zeros or all ones.
	if err != nil || len(b) != 16 || strings.Trim(digits, "0") == "" || strings.Trim(digits, "f") == "" {
		return "", fmt.Errorf("DMI product UUID %s: %w", path, ErrProductUUIDInvalid)
	}
	return id, nil
}

func readOSRelease(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("os-release: %w", err)
	}
	defer f.Close()
	rel, err := ParseOSRelease(io.LimitReader(f, maxFileBytes))
	if err != nil {
		return nil, fmt.Errorf("os-release %s: %w", path, err)
	}
	return rel, nil
}

// ParseOSRelease parses os-release(5): KEY=value lines, values optionally in
// single or double quotes with shell-style backslash escapes inside double
// quotes, '#' comments and blank lines. Lines that do not parse are skipped,
// as systemd does.
func ParseOSRelease(r io.Reader) (map[string]string, error) {
	rel := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok || key == "" || strings.ContainsAny(key, " \t\"'") {
			continue
		}
		if v, ok := unquote(val); ok {
			rel[key] = v
		}
	}
	return rel, sc.Err()
}

func unquote(v string) (string, bool) {
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		return v[1 : len(v)-1], true
	}
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		var b strings.Builder
		inner := v[1 : len(v)-1]
		for i := 0; i < len(inner); i++ {
			c := inner[i]
			if c == '\\' && i+1 < len(inner) && strings.IndexByte("\\$\"`", inner[i+1]) >= 0 {
				i++
				c = inner[i]
			}
			b.WriteByte(c)
		}
		return b.String(), true
	}
	if strings.ContainsAny(v, "\"'`$\\ \t") {
		return "", false
	}
	return v, true
}

func readSmall(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileBytes))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return string(b), nil
}
