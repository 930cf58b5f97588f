package config_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/truesightsec/truesight/internal/config"
	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/web"
)

// Example shows how the agent wires configuration, outputs and the web
// server together.
func Example() {
	cfg, warnings, err := config.Load("/etc/truesight/truesight.yaml", []string{"json_output=true"})
	for _, w := range warnings {
		fmt.Fprintln(os.Stderr, w)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err) // every error, with file:line:column and key
		return
	}
	log := cfg.Logger(os.Stderr)
	host, _ := os.Hostname()

	outs, err := cfg.Outputs()
	if err != nil {
		log.Error("outputs", "error", err)
		return
	}
	d := output.NewDispatcher(cfg.DispatcherOptions(log, host), outs...)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout())
		defer cancel()
		if err := d.Close(ctx); err != nil {
			log.Error("flush alerts", "error", err)
		}
	}()

	metrics := web.NewMetrics()
	metrics.ObserveOutputs(d.Stats)
	metrics.ObserveSuppressed(d.Suppressed)
	if ws := cfg.Webserver; ws.Enabled {
		o := web.Options{Address: ws.Address(), HealthzPath: ws.K8sHealthzEndpoint, Logger: log}
		if ws.PrometheusMetricsEnabled {
			o.Metrics = metrics
		}
		if ws.SSLEnabled {
			o.CertFile = ws.SSLCertificate
		}
		srv, err := web.Listen(o)
		if err != nil {
			log.Error("webserver", "error", err)
			return
		}
		defer func() { _ = srv.Shutdown(context.Background()) }()
	}

	// SIGHUP: reopen rotated alert files (and reload the rules).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			d.Reopen()
		}
	}()

	// The engine's matches go to d.Send, which never blocks.
	d.Send(&output.Alert{Rule: "Example", Priority: "Notice", Source: "syscall", Message: "example",
		Fields: map[string]any{"proc.name": "sh"}})
}
