package console

import (
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// heartbeat is how often an idle stream gets a comment, so that proxies
// and the browser keep it open; writeTimeout bounds one write to a client
// (a dead one is let go).
const (
	heartbeat    = 15 * time.Second
	writeTimeout = 10 * time.Second
)

var liveClients atomic.Int64

// serveEvents: GET /ui/api/events streams alerts as Server-Sent Events,
// one Falco JSON alert per event (its id the alert's seq). With
// Last-Event-ID (a reconnecting EventSource) or ?since=SEQ it first sends
// the alerts after that seq still in the ring; without, only new ones.
// The filters of /ui/api/alerts apply. When the client's queue overflowed,
// an event named "dropped" says how many alerts this stream lost so far.
func (c *Console) serveEvents(w http.ResponseWriter, r *http.Request) {
	f, err := filterOf(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	since, err := intParam(r, "since", 0, 1<<63)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	replay := r.URL.Query().Has("since")
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		if n, err := strconv.ParseUint(id, 10, 64); err == nil {
			since, replay = n, true
		}
	}
	if liveClients.Add(1) > maxClients {
		liveClients.Add(-1)
		httpError(w, http.StatusServiceUnavailable, fmt.Sprintf("%d live clients already; try again later", maxClients))
		return
	}
	defer liveClients.Add(-1)

	if !replay {
		_, _, _, since = c.alerts.stats()
	}
	cl, backlog := c.alerts.subscribe(since, f, c.cfg.AlertRing)
	defer c.alerts.unsubscribe(cl)

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	buf := make([]byte, 0, 4096)
	buf = append(buf, "retry: 2000\n\n"...)
	last := since
	for _, e := range backlog {
		buf = appendEvent(buf, e)
		last = e.Seq
	}
	var reported uint64
	send := func() bool {
		if d := cl.dropped.Load(); d != reported {
			reported = d
			buf = append(buf, "event: dropped\ndata: {\"dropped\":"...)
			buf = strconv.AppendUint(buf, d, 10)
			buf = append(buf, "}\n\n"...)
		}
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		_, err := w.Write(buf)
		buf = buf[:0]
		return err == nil && rc.Flush() == nil
	}
	if !send() {
		return
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			buf = append(buf, ": ping\n\n"...)
		case e := <-cl.ch:
			// Take what else is waiting, then write it in one go.
			for next := true; next; {
				if e.Seq > last && f.match(e) {
					buf = appendEvent(buf, e)
					last = e.Seq
				}
				next = false
				if len(buf) < 64<<10 {
					select {
					case e = <-cl.ch:
						next = true
					default:
					}
				}
			}
		}
		if !send() {
			return
		}
	}
}

func appendEvent(buf []byte, e *alertEntry) []byte {
	buf = append(buf, "id: "...)
	buf = strconv.AppendUint(buf, e.Seq, 10)
	buf = append(buf, "\ndata: "...)
	buf = append(buf, e.JSON...) // one line: JSON escapes newlines
	return append(buf, "\n\n"...)
}
