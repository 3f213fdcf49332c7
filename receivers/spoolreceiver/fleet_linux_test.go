package spoolreceiver

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFreeBytes(t *testing.T) {
	t.Parallel()
	assert.Positive(t, freeBytes(t.TempDir()))
	assert.Zero(t, freeBytes("/nonexistent/spool"))
}
