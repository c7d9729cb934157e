package minio

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/graphjob/graphjob/e2e/process"
	"github.com/graphjob/graphjob/e2e/testbin"
)

// Region is the region MinIO answers for.
const Region = "us-east-1"

// Server is a running MinIO server.
type Server struct {
	// Endpoint is the S3 endpoint, http://127.0.0.1:PORT.
	Endpoint string
	// AccessKey and SecretKey are the root credentials.
	AccessKey, SecretKey string
	// Dir holds the data (data/) and the log (minio.log).
	Dir string

	proc  *process.Process
	bin   string
	ports []int
}

// Start starts a server in dir (a new temporary directory when empty).
// log receives the messages of the first, slow build of MinIO.
func Start(ctx context.Context, dir string, log io.Writer) (*Server, error) {
	bin, err := testbin.Path(ctx, testbin.MinIO, log)
	if err != nil {
		return nil, err
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "graphjob-minio-"); err != nil {
			return nil, err
		}
	}
	ports, err := process.FreePorts(2)
	if err != nil {
		return nil, err
	}
	s := &Server{Endpoint: "http://127.0.0.1:" + strconv.Itoa(ports[0]), AccessKey: "graphjob-" + randomHex(4), SecretKey: randomHex(16), Dir: dir,
		bin: bin, ports: ports}
	return s, s.start(ctx)
}

func (s *Server) start(ctx context.Context) error {
	env := []string{"MINIO_ROOT_USER=" + s.AccessKey, "MINIO_ROOT_PASSWORD=" + s.SecretKey, "MINIO_BROWSER=off", "MINIO_UPDATE=off"}
	proc, err := process.StartEnv(s.Dir, "minio", s.bin, env, "server", s.Dir+"/data",
		"--address", "127.0.0.1:"+strconv.Itoa(s.ports[0]), "--console-address", "127.0.0.1:"+strconv.Itoa(s.ports[1]), "--quiet")
	if err != nil {
		return err
	}
	s.proc = proc
	if err := proc.WaitReady(ctx, s.Endpoint+"/minio/health/ready", ""); err != nil {
		proc.Stop(5 * time.Second)
		return err
	}
	return nil
}

// Restart starts a stopped server again, on the same address, data and
// credentials.
func (s *Server) Restart(ctx context.Context) error { return s.start(ctx) }

// StartForTest starts a server for one test and stops it when the test ends,
// printing the server's log if the test failed.
func StartForTest(t testing.TB) *Server {
	t.Helper()
	s, err := Start(t.Context(), t.TempDir(), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("minio log (%s):\n%s", s.proc.Log, s.proc.Tail(50))
		}
		s.Stop()
	})
	return s
}

// Stop stops the server.
func (s *Server) Stop() { s.proc.Stop(10 * time.Second) }

// Client returns an S3 client with the root credentials.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
}

// CreateBucket creates a bucket.
func (s *Server) CreateBucket(ctx context.Context, name string) error {
	_, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
	if err != nil {
		return fmt.Errorf("minio: creating bucket %s: %w", name, err)
	}
	return nil
}

// URL is the gocloud.dev/blob URL of a bucket on this server. Open it with
// the credentials of Env in the environment.
func (s *Server) URL(bucket string) string {
	q := url.Values{"endpoint": {s.Endpoint}, "region": {Region}, "use_path_style": {"true"}}
	return "s3://" + bucket + "?" + q.Encode()
}

// Env is the environment that gives S3 clients (gocloud's among them) this
// server's credentials.
func (s *Server) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + s.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s.SecretKey, "AWS_REGION=" + Region}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
