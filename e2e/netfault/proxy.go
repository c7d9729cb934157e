package netfault

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
)

// Proxy forwards HTTP requests to a server, breaking the ones armed.
type Proxy struct {
	// URL is the proxy's address, http://127.0.0.1:PORT: give it to the
	// client instead of the server's.
	URL string

	srv     *httptest.Server
	forward *httputil.ReverseProxy
	mu      sync.Mutex
	faults  []fault
}

type fault struct {
	match string
	times int
	cut   bool // cut the upload; otherwise drop the response
}

// Start starts a proxy in front of target (http://host:port).
func Start(target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	p := &Proxy{forward: httputil.NewSingleHostReverseProxy(u)}
	// A broken request must reach the server broken, not be retried whole.
	p.forward.Transport = &http.Transport{DisableKeepAlives: true}
	p.forward.ErrorLog = nil
	p.srv = httptest.NewServer(p)
	p.URL = p.srv.URL
	return p, nil
}

// Close stops the proxy.
func (p *Proxy) Close() { p.srv.Close() }

// CutUpload arms the proxy, for the next times PUT requests whose path
// contains match, to forward half of the body, then close both connections.
func (p *Proxy) CutUpload(match string, times int) {
	p.arm(fault{match: match, times: times, cut: true})
}

// DropResponse arms the proxy, for the next times PUT requests whose path
// contains match, to forward the request whole, then close the client's
// connection instead of answering.
func (p *Proxy) DropResponse(match string, times int) { p.arm(fault{match: match, times: times}) }

// Armed returns how many breakages are armed and not yet done.
func (p *Proxy) Armed() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, f := range p.faults {
		n += f.times
	}
	return n
}

func (p *Proxy) arm(f fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = append(p.faults, f)
}

// take returns the fault armed for r, if any, and counts it used.
func (p *Proxy) take(r *http.Request) (fault, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.faults {
		f := &p.faults[i]
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, f.match) {
			found := *f
			if f.times--; f.times <= 0 {
				p.faults = append(p.faults[:i], p.faults[i+1:]...)
			}
			return found, true
		}
	}
	return fault{}, false
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := p.take(r)
	if !ok {
		p.forward.ServeHTTP(w, r)
		return
	}
	if f.cut {
		r.Body = &cutBody{r: r.Body, left: max(r.ContentLength/2, 1)}
	}
	// Forward to a recorder: whatever the server answers, the client gets a
	// closed connection.
	p.forward.ServeHTTP(httptest.NewRecorder(), r)
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		if tcp, ok := conn.(*net.TCPConn); ok {
			_ = tcp.SetLinger(0) // a reset, as a network fault gives
		}
		_ = conn.Close()
	}
}

// cutBody ends a request body with an error after left bytes.
type cutBody struct {
	r    io.ReadCloser
	left int64
}

var errCut = errors.New("netfault: upload cut")

func (b *cutBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errCut
	}
	n, err := b.r.Read(p[:min(int64(len(p)), b.left)])
	b.left -= int64(n)
	return n, err
}

func (b *cutBody) Close() error { return b.r.Close() }
