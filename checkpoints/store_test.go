package checkpoints_test

import (
	"os"
	"testing"

	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/memblob"

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/checkpoints/storetest"
)

func TestMain(m *testing.M) {
	*checkpoints.NamedTemp = os.Getenv("GRAPHJOB_TEST_NAMED_TEMP") == "1"
	storetest.RunChild()
	os.Exit(m.Run())
}

func TestMem(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Backend {
		b := memblob.OpenBucket(nil)
		t.Cleanup(func() { _ = b.Close() })
		return storetest.Backend{
			Bucket: b,
			Open:   func(_ *testing.T, opts checkpoints.Options) *checkpoints.Store { return checkpoints.New(b, opts) },
		}
	})
}

func TestFile(t *testing.T) { testFile(t) }

// TestFileNamedTemp runs the suite on a file:// store that writes through
// named temporary files, as it does where O_TMPFILE is not available.
func TestFileNamedTemp(t *testing.T) {
	t.Setenv("GRAPHJOB_TEST_NAMED_TEMP", "1") // for the suite's child processes
	*checkpoints.NamedTemp = true
	defer func() { *checkpoints.NamedTemp = false }()
	testFile(t)
}

func testFile(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Backend {
		dir := t.TempDir()
		b, err := fileblob.OpenBucket(dir, &fileblob.Options{Metadata: fileblob.MetadataDontWrite})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		url := "file://" + dir
		return storetest.Backend{
			Bucket: b,
			URL:    url,
			Open: func(t *testing.T, opts checkpoints.Options) *checkpoints.Store {
				s, err := checkpoints.Open(t.Context(), url, opts)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = s.Close() })
				return s
			},
		}
	})
}
