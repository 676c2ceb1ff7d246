package storage

import (
	"os"
	"testing"

	"github.com/skiff-dev/skiff/internal/testserver"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testserver.RemoveBinary()
	os.Exit(code)
}
