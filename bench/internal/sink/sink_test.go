package sink

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/fleetlog/fleetlog/bench/internal/workload"
	"github.com/fleetlog/fleetlog/internal/pki"
)

func TestSinkCountsRecordsBytesAndLeaks(t *testing.T) {
	dir := t.TempDir()
	res, err := pki.Init(dir, pki.InitOptions{})
	require.NoError(t, err)
	dev, err := pki.IssueDevice(dir, pki.DeviceOptions{DeviceID: "bench-device"})
	require.NoError(t, err)

	ledger := workload.NewLedger(3)
	s, err := Start(dir+"/"+pki.GatewayDirName, ledger)
	require.NoError(t, err)
	defer func() { assert.NoError(t, s.Close()) }()

	cert, err := tls.LoadX509KeyPair(dev.Cert, dev.Key)
	require.NoError(t, err)
	caPEM, err := os.ReadFile(res.CACert)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(caPEM))
	creds := credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, MinVersion: tls.VersionTLS13})
	conn, err := grpc.NewClient(s.Addr(), grpc.WithTransportCredentials(creds))
	require.NoError(t, err)
	defer conn.Close()

	logs := plog.NewLogs()
	lrs := logs.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	lrs.AppendEmpty().Body().SetStr("login retry user=ops password=hunter2 attempt=1")
	lrs.AppendEmpty().Body().SetStr("login retry user=ops password=[REDACTED:secret] attempt=1")
	lrs.AppendEmpty().Body().SetStr("eth0: link up 1000Mbps")
	g := workload.New(1)
	line0, _ := g.Next(nil)
	line1, _ := g.Next(nil)
	for _, line := range [][]byte{line0, line1, line0} {
		lrs.AppendEmpty().Body().SetStr(string(line))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = plogotlp.NewGRPCClient(conn).Export(ctx, plogotlp.NewExportRequestFromLogs(logs), grpc.UseCompressor("zstd"))
	require.NoError(t, err)

	c := s.Counts()
	assert.Equal(t, int64(6), c.Records)
	assert.Equal(t, int64(1), c.Requests)
	assert.Equal(t, workload.Tally{Records: 6, Unique: 2, Duplicated: 1, Lost: 1, Foreign: 3}, c.Lines)
	assert.Equal(t, int64(1), c.Leaked)
	assert.Positive(t, c.WireBytes)
}
