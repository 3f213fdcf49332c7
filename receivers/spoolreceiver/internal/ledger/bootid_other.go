//go:build !linux

package ledger // import "github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/ledger"

// BootID returns "": without a boot identifier, only batches the spool had
// fsynced are trusted after a restart.
func BootID() string { return "" }
