package grpczstd_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc/encoding"

	"github.com/fleetlog/fleetlog/internal/grpczstd"
	// configgrpc registers its own zstd compressor unless one exists. Both
	// are imported side by side here, as in a collector build. The tests
	// are all in this external package: an internal test file would add its
	// imports to grpczstd's and could delay its init past configgrpc's.
	_ "go.opentelemetry.io/collector/config/configgrpc"
)

func TestRegisteredBeforeConfiggrpc(t *testing.T) {
	got := fmt.Sprintf("%T", encoding.GetCompressor(grpczstd.Name))
	assert.Equal(t, "*grpczstd.compressor", got)
}
