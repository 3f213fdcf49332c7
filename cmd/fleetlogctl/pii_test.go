package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetlog/fleetlog/internal/pii"
)

// runWithStdin runs fleetlogctl in-process with stdin; it returns stdout,
// stderr and the error main would turn into an exit status.
func runWithStdin(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out, errOut bytes.Buffer
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o700))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// keyLine is a body line of a PEM key: 64 base64 characters.
const keyLine = "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi0Z1ZJ7Pz1N3h+Qdmn5WvYc2xK"

func TestRedact(t *testing.T) {
	long := strings.Repeat("x", 2<<20) + " bob@example.com"
	tests := []struct {
		name, in, want string
	}{
		{"lines in order", "a bob@example.com\nclean\npassword=hunter2\n", "a [REDACTED:email]\nclean\npassword=[REDACTED:kv_secret]\n"},
		{"last line without newline", "x\ncard 4111111111111111", "x\ncard [REDACTED:credit_card]"},
		{"crlf kept", "token=Zx81kLq0Pw29mNb7\r\n\r\n", "token=[REDACTED:kv_secret]\r\n\r\n"},
		{"long line", long + "\n", strings.Repeat("x", 2<<20) + " [REDACTED:email]\n"},
		{"empty", "", ""},
		{"private key over lines", "a\n-----BEGIN RSA PRIVATE KEY-----\n" + keyLine + "\n" + keyLine + "\nAKCAQ==\n-----END RSA PRIVATE KEY----- ok\nb\n",
			"a\n[REDACTED:private_key]\n[REDACTED:private_key]\n[REDACTED:private_key]\n[REDACTED:private_key]\n[REDACTED:private_key] ok\nb\n"},
		{"cut-off key leaves the next lines", "ssh_key=-----BEGIN RSA PRIVATE KEY-----\n" + keyLine + "\n" +
			"Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4\n" +
			"Jun 14 15:16:02 combo sshd(pam_unix)[19937]: check pass; user unknown\n",
			"ssh_key=[REDACTED:private_key]\n[REDACTED:private_key]\n" +
				"Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4\n" +
				"Jun 14 15:16:02 combo sshd(pam_unix)[19937]: check pass; user unknown\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := runWithStdin(t, tt.in, "redact")
			require.NoError(t, err)
			assert.Equal(t, tt.want, out)
		})
	}
}

func TestRedactConfig(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("FLEETLOG_TEST_HASH_KEY", "k")
	hashing := writeFile(t, filepath.Join(dir, "pii.yaml"), `
action: hash
hash_key: ${env:FLEETLOG_TEST_HASH_KEY}
detectors:
  ipv4: {enabled: true}
custom_rules:
  - name: ticket
    pattern: 'TCK-\d+'
    action: mask
`)
	out, _, err := runWithStdin(t, "bob@example.com 10.0.0.1 TCK-7\n", "redact", "--config", hashing)
	require.NoError(t, err)
	assert.Regexp(t, `^\[email:[0-9a-f]{12}\] \[ipv4:[0-9a-f]{12}\] \[REDACTED:ticket\]\n$`, out)

	// A whole collector configuration: its processors::pii is used.
	agent := filepath.Join("..", "..", "distributions", "agent", "config.yaml")
	out, _, err = runWithStdin(t, "password=x\n", "redact", "--config", agent)
	require.NoError(t, err)
	assert.Equal(t, "password=[REDACTED:kv_secret]\n", out)

	bad := writeFile(t, filepath.Join(dir, "bad.yaml"), "detectors:\n  emails: {enabled: true}\n")
	_, _, err = runWithStdin(t, "", "redact", "--config", bad)
	require.ErrorIs(t, err, pii.ErrUnknownDetector)
	assert.ErrorContains(t, err, "'detectors::emails'")
	assert.Equal(t, 2, exitCode(err))

	unknown := writeFile(t, filepath.Join(dir, "unknown.yaml"), "actoin: hash\n")
	_, _, err = runWithStdin(t, "", "redact", "--config", unknown)
	assert.ErrorContains(t, err, "actoin")
	assert.Equal(t, 2, exitCode(err))
}

func TestLeakscan(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "clean", "app.log"), "started v1.2.3 on db.internal:5432\norder 4111111111111112\n")
	leaky := filepath.Join(dir, "leaky")
	writeFile(t, filepath.Join(leaky, "app.log"), "ok\nlogin password=hunter2-very-secret\n")
	writeFile(t, filepath.Join(leaky, "nested", "deep", "pay.log"), "card 4111 1111 1111 1111 from bob@example.com\n")
	writeFile(t, filepath.Join(leaky, "blob.bin"), "\x00\x01password=hunter3\n")

	t.Run("clean tree exits 0", func(t *testing.T) {
		out, _, err := runWithStdin(t, "", "leakscan", filepath.Join(dir, "clean"))
		require.NoError(t, err)
		assert.Empty(t, out)
	})
	t.Run("findings exit 1 and never print the secret", func(t *testing.T) {
		out, _, err := runWithStdin(t, "", "leakscan", leaky)
		require.ErrorIs(t, err, errLeaks)
		assert.Equal(t, 1, exitCode(err))
		assert.Equal(t, []string{
			filepath.Join(leaky, "app.log") + ":2:kv_secret",
			filepath.Join(leaky, "nested", "deep", "pay.log") + ":1:credit_card",
			filepath.Join(leaky, "nested", "deep", "pay.log") + ":1:email",
		}, strings.Split(strings.TrimSpace(out), "\n"))
		assert.NotContains(t, out, "hunter")
		assert.NotContains(t, err.Error(), "hunter")
	})
	t.Run("missing path exits 2", func(t *testing.T) {
		_, stderr, err := runWithStdin(t, "", "leakscan", filepath.Join(dir, "nope"))
		require.Error(t, err)
		assert.Equal(t, 2, exitCode(err))
		assert.Contains(t, stderr, "nope")
	})
	t.Run("no path exits 2", func(t *testing.T) {
		_, _, err := runWithStdin(t, "", "leakscan")
		require.Error(t, err)
		assert.Equal(t, 2, exitCode(err))
	})
}
