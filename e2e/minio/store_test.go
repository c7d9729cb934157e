package minio_test

import (
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	"gocloud.dev/blob"

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/checkpoints/storetest"
	"github.com/graphjob/graphjob/e2e/minio"
	"github.com/graphjob/graphjob/e2e/netfault"
)

func TestMain(m *testing.M) {
	storetest.RunChild()
	os.Exit(m.Run())
}

// TestStore runs the checkpoint store's conformance suite on MinIO, through a
// proxy that breaks uploads on demand.
func TestStore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MinIO")
	}
	s := minio.StartForTest(t)
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	proxy, err := netfault.Start(s.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	storetest.Run(t, func(t *testing.T) storetest.Backend {
		name := "store-" + randomName()
		if err := s.CreateBucket(t.Context(), name); err != nil {
			t.Fatal(err)
		}
		raw, err := blob.OpenBucket(t.Context(), s.URL(name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = raw.Close() })
		// The store reaches MinIO through the proxy.
		u, _ := url.Parse(s.URL(name))
		q := u.Query()
		q.Set("endpoint", proxy.URL)
		u.RawQuery = q.Encode()
		return storetest.Backend{
			Bucket: raw,
			URL:    u.String(),
			Env:    s.Env(),
			Faults: proxy,
			Open: func(t *testing.T, opts checkpoints.Options) *checkpoints.Store {
				st, err := checkpoints.Open(t.Context(), u.String(), opts)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = st.Close() })
				return st
			},
		}
	})
}

func randomName() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
