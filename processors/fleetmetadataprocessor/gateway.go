package fleetmetadataprocessor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fleetlog/fleetlog/internal/fleetattr"
	"github.com/fleetlog/fleetlog/internal/fleetproto"
	"github.com/fleetlog/fleetlog/internal/pipelineturn"
	"github.com/fleetlog/fleetlog/processors/fleetmetadataprocessor/internal/metadata"
)

var (
	// ErrUnauthenticated refuses a batch that carries no authenticated
	// device identity.
	ErrUnauthenticated = errors.New("no authenticated device identity: the receiver needs the fleet_identity authenticator, " +
		"and fleet_metadata must run before any processor that merges batches across clients")
	// ErrIdentityMismatch refuses, with reject_mismatch, a batch that claims
	// another device.
	ErrIdentityMismatch = errors.New("records claim a device.id other than the client certificate's")
)

// gatewayOwned are the attributes only the gateway sets; whatever a device
// sent under these keys is removed first, so a device cannot forge them.
var gatewayOwned = []string{
	fleetattr.ClaimedDeviceID,
	fleetattr.ClaimedFleetName,
	fleetattr.ClaimedFleetSite,
	fleetattr.IdentityMismatch,
	fleetattr.GatewayID,
	fleetattr.GatewayReceivedTime,
}

// gatewayProcessor binds every resource to the authenticated device.
type gatewayProcessor struct {
	cfg       *Config
	hostname  func() (string, error)
	gatewayID string
	telemetry *metadata.TelemetryBuilder
	now       func() time.Time
	// mismatches is the fleet registry (fleet_control), when the gateway
	// runs one; nil otherwise.
	mismatches fleetproto.IdentityMismatchRecorder
	// limiter bounds the batches in the pipeline; gates are the front doors
	// told how to ask it whether it is overloaded.
	limiter *limiter
	gates   []pipelineturn.Gatekeeper
}

func newGatewayProcessor(cfg *Config, set processor.Settings, hostname func() (string, error)) (*gatewayProcessor, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &gatewayProcessor{cfg: cfg, hostname: hostname, telemetry: tb, now: time.Now}, nil
}

func (p *gatewayProcessor) start(_ context.Context, host component.Host) error {
	for _, ext := range host.GetExtensions() {
		if r, ok := ext.(fleetproto.IdentityMismatchRecorder); ok && p.mismatches == nil {
			p.mismatches = r
		}
		if g, ok := ext.(pipelineturn.Gatekeeper); ok && p.limiter != nil {
			g.SetBusy(p.limiter.busy)
			p.gates = append(p.gates, g)
		}
	}
	p.gatewayID = p.cfg.Gateway.ID
	if p.gatewayID == "" {
		host, err := p.hostname()
		if err != nil {
			return fmt.Errorf("gateway.id is empty and the host name is unavailable: %w", err)
		}
		p.gatewayID = host
	}
	return nil
}

func (p *gatewayProcessor) shutdown(context.Context) error {
	for _, g := range p.gates {
		g.SetBusy(nil)
	}
	p.gates = nil
	p.telemetry.Shutdown()
	return nil
}

// authAttribute returns a string attribute of the authenticated identity.
func authAttribute(auth client.AuthData, name string) string {
	v, _ := auth.GetAttribute(name).(string)
	return v
}

func (p *gatewayProcessor) processLogs(ctx context.Context, ld plog.Logs) (plog.Logs, error) {
	auth := client.FromContext(ctx).Auth
	var deviceID, fleet, site string
	if auth != nil {
		deviceID = authAttribute(auth, fleetattr.DeviceID)
		fleet = authAttribute(auth, fleetattr.FleetName)
		site = authAttribute(auth, fleetattr.FleetSite)
	}
	if deviceID == "" {
		p.telemetry.ProcessorFleetMetadataRefusedBatches.Add(ctx, 1)
		return ld, refusal(codes.Unauthenticated, ErrUnauthenticated)
	}

	rls := ld.ResourceLogs()
	if p.cfg.Gateway.RejectMismatch {
		mismatches := 0
		var claim string
		for i := range rls.Len() {
			if c, ok := claimedOther(rls.At(i).Resource().Attributes(), deviceID); ok {
				mismatches++
				claim = c
			}
		}
		if mismatches > 0 {
			p.telemetry.ProcessorFleetMetadataIdentityMismatches.Add(ctx, int64(mismatches))
			p.telemetry.ProcessorFleetMetadataRefusedBatches.Add(ctx, 1)
			p.recordMismatch(deviceID, fleet, site, claim)
			return ld, refusal(codes.PermissionDenied, fmt.Errorf("%w: claimed %q, certificate %q", ErrIdentityMismatch, claim, deviceID))
		}
	}

	received := p.now().UTC().Format(time.RFC3339Nano)
	mismatches := 0
	var lastClaim string
	for i := range rls.Len() {
		attrs := rls.At(i).Resource().Attributes()
		for _, k := range gatewayOwned {
			attrs.Remove(k)
		}
		if claim, ok := claimedOther(attrs, deviceID); ok {
			mismatches++
			lastClaim = claim
			attrs.PutStr(fleetattr.ClaimedDeviceID, claim)
			attrs.PutBool(fleetattr.IdentityMismatch, true)
		}
		putStr(attrs, fleetattr.DeviceID, deviceID)
		bindClaim(attrs, fleetattr.FleetName, fleetattr.ClaimedFleetName, fleet)
		bindClaim(attrs, fleetattr.FleetSite, fleetattr.ClaimedFleetSite, site)
		attrs.PutStr(fleetattr.GatewayID, p.gatewayID)
		attrs.PutStr(fleetattr.GatewayReceivedTime, received)
	}
	if mismatches > 0 {
		p.telemetry.ProcessorFleetMetadataIdentityMismatches.Add(ctx, int64(mismatches))
		p.recordMismatch(deviceID, fleet, site, lastClaim)
	}
	return ld, nil
}

// recordMismatch tells the fleet registry, once per batch.
func (p *gatewayProcessor) recordMismatch(deviceID, fleet, site, claim string) {
	if p.mismatches != nil {
		p.mismatches.RecordIdentityMismatch(deviceID, fleet, site, claim)
	}
}

// bindClaim makes attribute key on a resource what the certificate says,
// certified, and nothing when the certificate does not name it: a device's
// claim must never place its records in a fleet or site it was not issued
// for. A non-empty claim that differs from the certificate, or that the
// certificate cannot confirm, is kept under claimedKey for investigation.
// Unlike a device.id mismatch it does not set fleet.identity.mismatch: a
// certificate issued without a fleet or site makes every such claim
// unconfirmed, which is a provisioning choice rather than a spoofed record.
func bindClaim(attrs pcommon.Map, key, claimedKey, certified string) {
	if v, ok := attrs.Get(key); ok {
		if claim := v.AsString(); claim != "" && claim != certified {
			attrs.PutStr(claimedKey, claim)
		}
	}
	if certified == "" {
		attrs.Remove(key)
		return
	}
	putStr(attrs, key, certified)
}

// putStr is attrs.PutStr(key, v), unless attrs holds that string already:
// what a device claims is most often what its certificate says, and a put
// replaces the value with a new allocation.
func putStr(attrs pcommon.Map, key, v string) {
	if old, ok := attrs.Get(key); ok && old.Type() == pcommon.ValueTypeStr && old.Str() == v {
		return
	}
	attrs.PutStr(key, v)
}

// claimedOther returns the device.id a resource claims when it is not
// deviceID. An absent or empty claim is not a mismatch.
func claimedOther(attrs pcommon.Map, deviceID string) (string, bool) {
	v, ok := attrs.Get(fleetattr.DeviceID)
	if !ok {
		return "", false
	}
	claim := v.AsString()
	return claim, claim != "" && claim != deviceID
}

// refusal is a permanent error that carries a gRPC status, so that the
// receiver answers the device with code (and, over HTTP, its status code)
// rather than Internal / 500.
func refusal(code codes.Code, err error) error {
	return consumererror.NewPermanent(statusError{code: code, err: err})
}

type statusError struct {
	code codes.Code
	err  error
}

func (e statusError) Error() string { return e.err.Error() }

func (e statusError) Unwrap() error { return e.err }

// GRPCStatus is what status.FromError looks for.
func (e statusError) GRPCStatus() *status.Status { return status.New(e.code, e.err.Error()) }
