package ledger // import "github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/ledger"

import (
	"os"
	"strings"
)

// BootID returns the kernel's identifier of the current boot, or "" if it
// cannot be read.
func BootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
