package web

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/truesightsec/truesight/internal/version"
)

// Options configure the web server.
type Options struct {
	// Address is host:port to listen on, e.g. 127.0.0.1:8765.
	Address string
	// HealthzPath is the health check's path; empty means /healthz.
	HealthzPath string
	// Health, when set, is asked at each health check; an error makes
	// the check answer 503 with the error.
	Health func() error
	// Metrics, when set, are served at /metrics.
	Metrics *Metrics
	// CertFile, when set, serves HTTPS with the certificate and private
	// key found in this one PEM file (Falco's ssl_certificate).
	CertFile string
	// Logger receives serving errors; nil means slog.Default().
	Logger *slog.Logger
}

// Server serves /healthz, /versions and /metrics, and what parts add.
type Server struct {
	mux *http.ServeMux
	srv *http.Server
	ln  net.Listener
	err chan error
}

// Versions is the /versions document. Its engine keys are those falcoctl
// reads to check that rules artifacts suit the running engine.
type Versions struct {
	TruesightVersion    string `json:"truesight_version"`
	EngineVersion       string `json:"engine_version"`
	EngineVersionSemver string `json:"engine_version_semver"`
	GoVersion           string `json:"go_version"`
}

// CurrentVersions describes this build.
func CurrentVersions() Versions {
	// Falco's integer engine_version is the minor of the semver.
	minor := version.EngineVersion
	if parts := strings.Split(version.EngineVersion, "."); len(parts) == 3 {
		minor = parts[1]
	}
	return Versions{
		TruesightVersion:    version.Version,
		EngineVersion:       minor,
		EngineVersionSemver: version.EngineVersion,
		GoVersion:           runtime.Version(),
	}
}

// Listen binds the address now, so that a port in use is reported at
// startup, and serves in the background until Shutdown.
func Listen(o Options) (*Server, error) {
	if o.HealthzPath == "" {
		o.HealthzPath = "/healthz"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	var tlsConf *tls.Config
	if o.CertFile != "" {
		pem, err := os.ReadFile(o.CertFile)
		if err != nil {
			return nil, fmt.Errorf("webserver certificate: %w", err)
		}
		cert, err := tls.X509KeyPair(pem, pem)
		if err != nil {
			return nil, fmt.Errorf("webserver certificate %s: %w (want the certificate and its private key in one PEM file)", o.CertFile, err)
		}
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET "+o.HealthzPath, func(w http.ResponseWriter, _ *http.Request) {
		if o.Health != nil {
			if err := o.Health(); err != nil {
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "error", "error": err.Error()})
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	versions := CurrentVersions()
	mux.HandleFunc("GET /versions", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, versions)
	})
	if o.Metrics != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(o.Metrics.registry, promhttp.HandlerOpts{
			ErrorLog: slog.NewLogLogger(o.Logger.Handler(), slog.LevelError),
		}))
	}

	ln, err := net.Listen("tcp", o.Address)
	if err != nil {
		return nil, fmt.Errorf("webserver: %w", err)
	}
	if tlsConf != nil {
		ln = tls.NewListener(ln, tlsConf)
	}
	s := &Server{
		mux: mux,
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
		},
		ln:  ln,
		err: make(chan error, 1),
	}
	go func() {
		err := s.srv.Serve(ln)
		if !errors.Is(err, http.ErrServerClosed) {
			o.Logger.Error("webserver stopped", "error", err)
		}
		s.err <- err
	}()
	return s, nil
}

// Handle serves h at pattern (a ServeMux pattern) beside the server's
// own endpoints; safe while the server runs.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Addr is the address the server listens on (useful with port 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Shutdown stops the server, letting requests in progress finish until ctx
// is done.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if serveErr := <-s.err; err == nil && !errors.Is(serveErr, http.ErrServerClosed) {
		err = serveErr
	}
	return err
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
