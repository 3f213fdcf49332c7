package fleetproto

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSealOpen(t *testing.T) {
	t.Parallel()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherPub, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	a := &Assignment{Serial: 7, Name: "atms-glob", Device: "atm-0042", Fragment: []byte("receivers: {}\n"), IssuedAt: time.Unix(1700000000, 0).UTC()}
	env, err := Seal(a, key)
	if err != nil {
		t.Fatal(err)
	}
	tampered := func() []byte {
		var e Envelope
		if err := json.Unmarshal(env, &e); err != nil {
			t.Fatal(err)
		}
		e.Payload = []byte(strings.Replace(string(e.Payload), `"serial":7`, `"serial":8`, 1))
		b, _ := json.Marshal(&e)
		return b
	}()
	other, _ := Seal(a, otherKey)
	tests := []struct {
		name    string
		env     []byte
		pub     ed25519.PublicKey
		device  string
		wantErr error
	}{
		{name: "valid", env: env, pub: pub, device: "atm-0042"},
		{name: "other device", env: env, pub: pub, device: "atm-0007", wantErr: ErrWrongDevice},
		{name: "signed by another key", env: other, pub: pub, device: "atm-0042", wantErr: ErrBadSignature},
		{name: "other key verifies its own", env: other, pub: otherPub, device: "atm-0042"},
		{name: "payload edited", env: tampered, pub: pub, device: "atm-0042", wantErr: ErrBadSignature},
		{name: "garbage", env: []byte("{not json"), pub: pub, device: "atm-0042", wantErr: ErrMalformed},
		{name: "empty", env: []byte("{}"), pub: pub, device: "atm-0042", wantErr: ErrMalformed},
		{name: "no key", env: env, pub: nil, device: "atm-0042", wantErr: ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Open(tt.env, tt.pub, tt.device)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Open() error = %v, want %v", err, tt.wantErr)
			}
			if err == nil && (got.Serial != 7 || string(got.Fragment) != string(a.Fragment) || got.FragmentHash() != a.FragmentHash()) {
				t.Fatalf("Open() = %+v, want %+v", got, a)
			}
		})
	}
}

func TestPolicyCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		fragment string
		policy   Policy
		wantErr  string // substring; "" for no error
	}{
		{name: "file glob", fragment: "receivers:\n  spool:\n    files:\n      app:\n        include: [/var/log/app/*.log]\n"},
		{name: "log level and labels", fragment: "service:\n  telemetry:\n    logs:\n      level: debug\nprocessors:\n  fleet_metadata:\n    labels:\n      ring: canary\n"},
		{name: "gateway address", fragment: "exporters:\n  otlp_grpc:\n    endpoint: evil:4317\n", wantErr: "exporters::otlp_grpc::endpoint (locked)"},
		{name: "tls off", fragment: "exporters:\n  otlp_grpc:\n    tls:\n      insecure: true\n", wantErr: "exporters::otlp_grpc::tls::insecure (locked)"},
		{name: "pii out of pipeline", fragment: "service:\n  pipelines:\n    logs:\n      processors: [fleet_metadata]\n", wantErr: "service::pipelines::logs::processors (locked)"},
		{name: "pii allowed keys", fragment: "processors:\n  pii:\n    allowed_keys: [body]\n", wantErr: "processors::pii::allowed_keys (locked)"},
		{name: "not allowed", fragment: "receivers:\n  spool:\n    directory: /tmp\n", wantErr: "receivers::spool::directory"},
		{name: "both named, sorted", fragment: "receivers:\n  spool:\n    max_size: 1MiB\n    directory: /tmp\n", wantErr: "receivers::spool::directory, receivers::spool::max_size"},
		{name: "custom allow", fragment: "receivers:\n  spool:\n    max_size: 1MiB\n", policy: Policy{Allowed: []string{"receivers::*::max_size"}}},
		{name: "unlock needs allow too", fragment: "processors:\n  pii:\n    action: hash\n", policy: Policy{Unlocked: []string{"processors::pii::action"}}, wantErr: "processors::pii::action"},
		{name: "unlocked and allowed", fragment: "processors:\n  pii:\n    action: hash\n", policy: Policy{Allowed: []string{"processors::pii"}, Unlocked: []string{"processors::pii::action"}}},
		{name: "empty fragment", fragment: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := ParseFragment([]byte(tt.fragment))
			if err != nil {
				t.Fatal(err)
			}
			err = tt.policy.Check(m)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Check() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrKeyNotAllowed) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Check() = %v, want ErrKeyNotAllowed naming %q", err, tt.wantErr)
			}
		})
	}
}

func TestStatusRoundTrip(t *testing.T) {
	t.Parallel()
	in := &Status{AgentTime: time.Unix(1700000000, 0).UTC(), Version: "v1", Spool: &SpoolStatus{Bytes: 10, Records: 2}, Files: []FileStatus{{Path: "/var/log/a.log", Size: 10, Offset: 4, LagBytes: 6}}}
	b, err := MarshalStatus(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := UnmarshalStatus(b)
	if err != nil {
		t.Fatal(err)
	}
	if out.Spool.Bytes != 10 || out.Files[0].LagBytes != 6 || !out.AgentTime.Equal(in.AgentTime) || out.Host != nil {
		t.Fatalf("round trip = %+v", out)
	}
	if _, err := UnmarshalStatus([]byte("nope")); err == nil {
		t.Fatal("UnmarshalStatus(garbage) = nil error")
	}
}

// TestWitnessContract pins the names both tiers read: an agent of one
// version must keep talking to a gateway of another.
func TestWitnessContract(t *testing.T) {
	t.Parallel()
	if CheckpointCapability != "io.fleetlog.checkpoint" || CheckpointMessageType != "checkpoint.v1" {
		t.Fatalf("checkpoint message = %q %q", CheckpointCapability, CheckpointMessageType)
	}
	if MaxCheckpointBytes != 1024 || WitnessCheckpoints != 5 || WitnessFile != "checkpoints.note" {
		t.Fatalf("bounds = %d bytes, %d checkpoints", MaxCheckpointBytes, WitnessCheckpoints)
	}
	b, err := MarshalStatus(&Status{Checkpoints: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"checkpoints":["a","b"]`) {
		t.Fatalf("status = %s", b)
	}
}
