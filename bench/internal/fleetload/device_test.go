package fleetload

import (
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/encoding"

	"github.com/fleetlog/fleetlog/internal/grpczstd"
	"github.com/fleetlog/fleetlog/internal/spoolstamp"
)

// TestCompressIsTheAgentsZstd compresses a batch once with the agent's
// registered compressor and finds in it, decoded by any zstd decoder, the
// request that was built.
func TestCompressIsTheAgentsZstd(t *testing.T) {
	t.Parallel()
	f := &Fleet{Pool: NewPool(1, 1000)}
	d := &Device{ID: "dev-1", SpoolID: strings.Repeat("ab", spoolstamp.IDLen/2), Resource: NewResource("dev-1", "sim", "site-1")}
	want, err := f.Pool.Build(nil, d.Resource, 100, 500, d.SpoolID, 1, 1_700_000_000_000_000_000)
	require.NoError(t, err)

	var b batch
	require.NoError(t, f.build(&b, d, 100, 500, 1, 1_700_000_000_000_000_000))
	assert.Equal(t, len(want), b.size)
	comp := encoding.GetCompressor(grpczstd.Name)
	require.NotNil(t, comp)
	require.NoError(t, f.compress(&b, comp))
	assert.Nil(t, b.req, "the build buffer went back to the pool")
	assert.Less(t, len(b.wire), b.size/4)

	dec, err := zstd.NewReader(nil)
	require.NoError(t, err)
	defer dec.Close()
	got, err := dec.DecodeAll(b.wire, nil)
	require.NoError(t, err)
	assert.Equal(t, want, got)

	// Without compression the wire is the request.
	require.NoError(t, f.build(&b, d, 100, 500, 1, 1_700_000_000_000_000_000))
	require.NoError(t, f.compress(&b, nil))
	assert.Equal(t, want, b.wire)
}
