package pipelineturn

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestReleaseOnce(t *testing.T) {
	t.Parallel()
	n := 0
	ctx, done := With(context.Background(), func() { n++ })
	Release(ctx)
	Release(ctx)
	done()
	assert.Equal(t, 1, n)

	m := 0
	_, done = With(context.Background(), func() { m++ })
	done()
	done()
	assert.Equal(t, 1, m)

	Release(context.Background()) // no turn: nothing happens
}
