package output

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// HTTPOptions configure an HTTPSink. The zero value of each field is a
// sensible default except URL.
type HTTPOptions struct {
	// URL receives one POST per alert, e.g. http://falcosidekick:2801/.
	URL string
	// UserAgent is sent with each request; empty means "truesight".
	UserAgent string
	// Headers are added to each request (authorisation tokens and the
	// like); they cannot replace Content-Type.
	Headers map[string]string
	// JSON are the json_include_* settings of the payload. The payload is
	// always Falco's JSON object, the form falcosidekick accepts.
	JSON JSONOptions
	// TLS configures https URLs.
	TLS TLSOptions
	// DisableKeepAlive opens a new connection for every alert.
	DisableKeepAlive bool
	// Timeout bounds one attempt (connect, send, response); 0 means 5s.
	Timeout time.Duration
	// Retry says how connection errors and 408, 429 and 5xx responses are
	// retried; other responses fail at once.
	Retry RetryPolicy
	// Echo, when set, receives each response body (http_output.echo).
	Echo io.Writer
}

// TLSOptions are the TLS settings of an HTTPS output, named after Falco's
// http_output keys.
type TLSOptions struct {
	// Insecure skips verification of the server's certificate.
	Insecure bool
	// CACert and CABundle are PEM files of CA certificates that verify
	// the server; CAPath is a directory of such files. When all are empty
	// the system's roots are used.
	CACert, CABundle, CAPath string
	// ClientCert and ClientKey are a PEM certificate and key presented to
	// the server (mutual TLS).
	ClientCert, ClientKey string
}

// Config builds the tls.Config the options describe.
func (o TLSOptions) Config() (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.Insecure} //nolint:gosec // the user asked for it
	if o.CACert != "" || o.CABundle != "" || o.CAPath != "" {
		pool := x509.NewCertPool()
		for _, f := range []string{o.CACert, o.CABundle} {
			if f == "" {
				continue
			}
			pem, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("read CA certificate: %w", err)
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("CA certificate %s: no PEM certificate found", f)
			}
		}
		if o.CAPath != "" {
			if err := addCADir(pool, o.CAPath); err != nil {
				return nil, err
			}
		}
		c.RootCAs = pool
	}
	if o.ClientCert != "" || o.ClientKey != "" {
		cert, err := tls.LoadX509KeyPair(o.ClientCert, o.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("load client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// addCADir adds every PEM certificate of the files in dir to pool.
func addCADir(pool *x509.CertPool, dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read CA directory: %w", err)
	}
	found := false
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		pem, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err == nil && pool.AppendCertsFromPEM(pem) {
			found = true
		}
	}
	if !found {
		return fmt.Errorf("CA directory %s: no PEM certificate found", dir)
	}
	return nil
}

// HTTPSink POSTs each alert as Falco's JSON object, the payload
// falcosidekick and Falco-aware webhooks accept unchanged.
type HTTPSink struct {
	o      HTTPOptions
	url    string
	client *http.Client
}

// NewHTTPSink checks the URL and loads the TLS material now, so that
// mistakes show at startup.
func NewHTTPSink(o HTTPOptions) (*HTTPSink, error) {
	u, err := url.Parse(o.URL)
	if err != nil {
		return nil, fmt.Errorf("http output URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("http output URL %q: want an http:// or https:// URL with a host", o.URL)
	}
	if o.UserAgent == "" {
		o.UserAgent = "truesight"
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	tlsConf, err := o.TLS.Config()
	if err != nil {
		return nil, fmt.Errorf("http output: %w", err)
	}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     tlsConf,
		TLSHandshakeTimeout: o.Timeout,
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        4,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
		DisableKeepAlives:   o.DisableKeepAlive,
		DisableCompression:  true,
	}
	client := &http.Client{
		Transport: tr,
		// A redirect would turn the POST into a GET and lose the alert.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &HTTPSink{o: o, url: u.String(), client: client}, nil
}

// Write POSTs the alert, retrying as the policy allows.
func (s *HTTPSink) Write(ctx context.Context, a *Alert) error {
	body := a.JSON(s.o.JSON)
	return withRetry(ctx, s.o.Retry, func() (time.Duration, error) { return s.post(ctx, body) })
}

// post makes one attempt. It returns a server's Retry-After, if any.
func (s *HTTPSink) post(ctx context.Context, body []byte) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return 0, &permanentError{err}
	}
	for k, v := range s.o.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", s.o.UserAgent)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("post alert: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	// Reading the body to its end lets the connection be reused.
	echo := io.Discard
	if s.o.Echo != nil {
		echo = s.o.Echo
	}
	_, _ = io.Copy(echo, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return 0, nil
	}
	err = fmt.Errorf("post alert: %s answered %s", s.url, resp.Status)
	switch {
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		return s.retryAfter(resp), err
	default:
		return 0, &permanentError{err}
	}
}

// retryAfter reads a Retry-After header in seconds, capped by the policy's
// longest backoff.
func (s *HTTPSink) retryAfter(resp *http.Response) time.Duration {
	n, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || n <= 0 {
		return 0
	}
	limit := s.o.Retry.MaxBackoff
	if limit <= 0 {
		limit = 10 * time.Second
	}
	return min(time.Duration(n)*time.Second, limit)
}

// Close releases idle connections.
func (s *HTTPSink) Close() error {
	s.client.CloseIdleConnections()
	return nil
}
