package console

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/truesightsec/truesight/internal/agent"
	"github.com/truesightsec/truesight/internal/config"
	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/rules"
	"github.com/truesightsec/truesight/internal/state"
)

// ui holds the page: plain HTML, JavaScript and CSS, no build step.
//
//go:embed ui
var ui embed.FS

// maxClients bounds the live (SSE) clients at once; more are refused
// with 503, so that memory stays bounded whatever connects.
const maxClients = 64

// Console is the web console, an agent Part.
type Console struct {
	cfg      config.Console
	alerts   *alertHub
	findings *findingStore
	log      *slog.Logger

	env   *agent.Env // nil until Attach
	auth  *auth
	mux   *http.ServeMux
	start time.Time

	rate   rateMeter
	procMu sync.Mutex
	procs  *processSnapshot // cached for a second
}

// New makes a console with the settings of truesight.console.
func New(cfg config.Console) *Console {
	return &Console{
		cfg:      cfg,
		alerts:   newAlertHub(cfg.AlertRing, cfg.ClientQueue),
		findings: newFindingStore(cfg.Findings),
		log:      slog.Default(),
		mux:      http.NewServeMux(),
		start:    time.Now(),
	}
}

// Name is the part's name.
func (c *Console) Name() string { return "console" }

// Token resolves the console's token: truesight.console.token, else the
// environment variable TRUESIGHT_CONSOLE_TOKEN, else a new random one
// (generated reports that).
func Token(cfg config.Console, getenv func(string) string) (token string, generated bool, err error) {
	if cfg.Token != "" {
		return cfg.Token, false, nil
	}
	if t := getenv(config.ConsoleTokenEnv); t != "" {
		if len(t) < config.ConsoleMinToken {
			return "", false, fmt.Errorf("%s must be at least %d characters, got %d", config.ConsoleTokenEnv, config.ConsoleMinToken, len(t))
		}
		return t, false, nil
	}
	return GenerateToken(), true, nil
}

// Attach registers the console under /ui on the agent's web server and
// observes alerts and findings. A web server that did not start leaves
// the agent running without a console (logged).
func (c *Console) Attach(env *agent.Env) error {
	c.env, c.log = env, env.Log
	token, generated, err := Token(c.cfg, os.Getenv)
	if err != nil {
		return err
	}
	ws := env.Config.Webserver
	c.auth = newAuth(token, ws.SSLEnabled)
	c.routes()
	if !env.Handle("/ui/", c) || !env.Handle("/ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently)) {
		c.log.Error("console not served: the web server is not running (webserver.enabled, or see why it did not start above)")
		return nil
	}
	env.OnAlert(c.Observe)
	env.OnFinding(c.findings.add)
	scheme := "http"
	if ws.SSLEnabled {
		scheme = "https"
	}
	url := scheme + "://" + ws.Address() + "/ui/"
	if generated {
		// The one place the generated token is ever shown.
		c.log.Info("console: open this link (it holds the access token; it is not shown again)", "url", url+"?token="+token)
	} else {
		c.log.Info("console: serving", "url", url, "token", "from "+tokenSource(c.cfg))
	}
	return nil
}

func tokenSource(cfg config.Console) string {
	if cfg.Token != "" {
		return "truesight.console.token"
	}
	return config.ConsoleTokenEnv
}

// Run samples the event rate until ctx ends.
func (c *Console) Run(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		c.rate.sample(c.eventsTotal())
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Observe takes one alert (an agent alert observer): it is kept in the
// ring and offered to the live clients. It never blocks.
func (c *Console) Observe(al *output.Alert) { c.alerts.add(newAlertEntry(al)) }

// Finding takes one finding (an agent finding observer).
func (c *Console) Finding(ev *event.Event, p *state.Process) { c.findings.add(ev, p) }

// ServeHTTP serves /ui/: security headers on everything, the token or a
// session on everything but the login exchange.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		httpError(w, http.StatusMethodNotAllowed, "the console is read-only: GET only")
		return
	}
	if t := r.URL.Query().Get("token"); t != "" && !strings.HasPrefix(r.URL.Path, "/ui/api/") {
		// The link's token, exchanged once for a session cookie; the
		// redirect takes it out of the address bar and the history.
		if !c.auth.tokenOK(t) {
			httpError(w, http.StatusUnauthorized, "wrong token: open the link the agent logged at start, or send Authorization: Bearer TOKEN")
			return
		}
		http.SetCookie(w, c.auth.newSession())
		http.Redirect(w, r, r.URL.Path, http.StatusSeeOther)
		return
	}
	if !c.auth.allowed(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="truesight console"`)
		httpError(w, http.StatusUnauthorized, "the console needs its token: open the link the agent logged at start, or send Authorization: Bearer TOKEN")
		return
	}
	c.mux.ServeHTTP(w, r)
}

func (c *Console) routes() {
	static, _ := fs.Sub(ui, "ui")
	files := http.FileServerFS(static)
	c.mux.Handle("GET /ui/", http.StripPrefix("/ui/", files))
	c.mux.HandleFunc("GET /ui/api/alerts", c.serveAlerts)
	c.mux.HandleFunc("GET /ui/api/events", c.serveEvents)
	c.mux.HandleFunc("GET /ui/api/findings", c.serveFindings)
	c.mux.HandleFunc("GET /ui/api/containers", c.withAgent(c.serveContainers))
	c.mux.HandleFunc("GET /ui/api/processes", c.withAgent(c.serveProcesses))
	c.mux.HandleFunc("GET /ui/api/health", c.withAgent(c.serveHealth))
	c.mux.HandleFunc("GET /ui/api/", func(w http.ResponseWriter, r *http.Request) {
		httpError(w, http.StatusNotFound, "no endpoint "+r.URL.Path+" (see docs/console.md)")
	})
}

// withAgent serves h when the console is attached to an agent (whose
// kernel view, containers and metrics h reads), else answers 503.
func (c *Console) withAgent(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if c.env == nil {
			httpError(w, http.StatusServiceUnavailable, "this console serves no agent: "+r.URL.Path+" needs truesight run")
			return
		}
		h(w, r)
	}
}

// Handler is the console's HTTP handler, for serving it outside an agent
// (benchmarks): token auth with the given token, no agent data.
func (c *Console) Handler(token string) http.Handler {
	c.auth = newAuth(token, false)
	c.routes()
	return c
}

// filterOf reads an alert filter from a query: priority (the least
// severe to keep), rule, container, pod, q (text).
func filterOf(r *http.Request) (*alertFilter, error) {
	q := r.URL.Query()
	f := &alertFilter{MinPriority: -1, Rule: q.Get("rule"), Container: q.Get("container"), Pod: q.Get("pod"), Text: strings.ToLower(q.Get("q"))}
	if p := q.Get("priority"); p != "" {
		pr, ok := rules.ParsePriority(p)
		if !ok {
			return nil, fmt.Errorf("priority %q is not one of emergency, alert, critical, error, warning, notice, informational, debug", p)
		}
		f.MinPriority = pr
	}
	return f, nil
}

// intParam reads a non-negative integer query parameter.
func intParam(r *http.Request, name string, def, max uint64) (uint64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not a non-negative integer", name, s)
	}
	return min(n, max), nil
}

// serveAlerts: GET /ui/api/alerts?priority=&rule=&container=&pod=&q=&since=&limit=
// returns {"last": seq, "alerts": [{"seq": n, "alert": {Falco JSON}}]},
// oldest first.
func (c *Console) serveAlerts(w http.ResponseWriter, r *http.Request) {
	f, err := filterOf(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	since, err := intParam(r, "since", 0, 1<<63)
	if err == nil {
		var limit uint64
		if limit, err = intParam(r, "limit", 1000, uint64(c.cfg.AlertRing)); err == nil {
			es := c.alerts.since(since, f, int(limit))
			_, _, _, last := c.alerts.stats()
			type item struct {
				Seq   uint64          `json:"seq"`
				Alert json.RawMessage `json:"alert"`
			}
			out := struct {
				Last   uint64 `json:"last"`
				Alerts []item `json:"alerts"`
			}{Last: last, Alerts: make([]item, 0, len(es))}
			for _, e := range es {
				out.Alerts = append(out.Alerts, item{e.Seq, e.JSON})
			}
			writeJSON(w, out)
			return
		}
	}
	httpError(w, http.StatusBadRequest, err.Error())
}

// serveFindings: GET /ui/api/findings?container=ID|host.
func (c *Console) serveFindings(w http.ResponseWriter, r *http.Request) {
	fs := c.findings.list(r.URL.Query().Get("container"))
	if fs == nil {
		fs = []*findingEntry{}
	}
	writeJSON(w, fs)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
