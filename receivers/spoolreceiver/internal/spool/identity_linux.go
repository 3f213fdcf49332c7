package spool

import (
	"os"
	"strings"
)

// bootID names the current boot of the machine; it changes at every boot.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
