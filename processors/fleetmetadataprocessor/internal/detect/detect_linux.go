package detect

// osType is the os.type resource attribute value (semantic conventions).
const osType = "linux"

// DefaultPaths are where Linux keeps the machine ID, the DMI product UUID and
// the OS description.
func DefaultPaths() Paths {
	return Paths{
		MachineID:   "/etc/machine-id",
		ProductUUID: "/sys/class/dmi/id/product_uuid",
		OSRelease:   "/etc/os-release",
	}
}
