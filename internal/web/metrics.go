package web

import (
	"runtime"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/version"
)

// Metrics are truesight's Prometheus metrics. Counters that code bumps as
// things happen are fields; figures another package already keeps (output
// queues, kernel drops, the process table) are read at scrape time from
// functions registered with the Observe methods, so that nothing is counted
// twice and the hot path pays nothing for them.
type Metrics struct {
	// Events counts events by type (label type, Falco's evt.type name).
	// On the hot path, resolve a type's counter once with EventCounter.
	Events *prometheus.CounterVec
	// Alerts counts alerts by rule and priority.
	Alerts *prometheus.CounterVec
	// RuleEvaluation is the time the engine takes for one event, in
	// seconds.
	RuleEvaluation prometheus.Histogram
	// Reloads counts rules reloads by result: ok or failed.
	Reloads *prometheus.CounterVec

	registry *prometheus.Registry

	mu           sync.Mutex
	outputs      func() []output.Stats
	suppressed   func() uint64
	kernel       func() KernelCounts
	processTable func() int
}

// Descriptions of the metrics read at scrape time.
var (
	descQueueDepth = prometheus.NewDesc("truesight_output_queue_depth",
		"Alerts waiting in an output's queue.", []string{"output"}, nil)
	descQueueCapacity = prometheus.NewDesc("truesight_output_queue_capacity",
		"Length of an output's queue.", []string{"output"}, nil)
	descSent = prometheus.NewDesc("truesight_output_alerts_sent_total",
		"Alerts an output delivered.", []string{"output"}, nil)
	descFailed = prometheus.NewDesc("truesight_output_alerts_failed_total",
		"Alerts an output gave up on after delivery errors.", []string{"output"}, nil)
	descDropped = prometheus.NewDesc("truesight_output_alerts_dropped_total",
		"Alerts an output dropped because its queue was full.", []string{"output"}, nil)
	descSuppressed = prometheus.NewDesc("truesight_alerts_suppressed_total",
		"Identical alerts suppressed by the rate limit.", nil, nil)
	descKernelDrops = prometheus.NewDesc("truesight_kernel_drops_total",
		"Kernel records lost because the ring buffer was full.", nil, nil)
	descKernelSkipped = prometheus.NewDesc("truesight_kernel_skipped_total",
		"Kernel records no rule can see, left in the kernel by the read-only file filter: read-only opens of regular files and their closes.", nil, nil)
	descProcessTable = prometheus.NewDesc("truesight_process_table_size",
		"Processes in the process table.", nil, nil)
)

// NewMetrics creates the metrics in their own registry, with Go runtime,
// process and build information collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "truesight_events_total",
			Help: "Events seen, by type.",
		}, []string{"type"}),
		Alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "truesight_alerts_total",
			Help: "Alerts raised, by rule and priority.",
		}, []string{"rule", "priority"}),
		RuleEvaluation: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "truesight_rule_evaluation_seconds",
			Help: "Time the rules engine takes to judge one event.",
			// 100ns to 6.5ms: a rule set judges an event in microseconds.
			Buckets: prometheus.ExponentialBuckets(100e-9, 4, 9),
		}),
		Reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "truesight_rules_reloads_total",
			Help: "Rules reloads, by result (ok, failed).",
		}, []string{"result"}),
		registry: prometheus.NewRegistry(),
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "truesight_build_info",
		Help: "truesight's version, the rules engine version it implements and the Go version; always 1.",
		ConstLabels: prometheus.Labels{
			"version": version.Version, "engine_version": version.EngineVersion, "goversion": runtime.Version(),
		},
	})
	build.Set(1)
	m.registry.MustRegister(
		m.Events, m.Alerts, m.RuleEvaluation, m.Reloads, build, (*sources)(m),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Registry is the registry the metrics are in, for tests and for adding
// more collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// EventCounter returns the counter of one event type, to keep and Inc on
// the hot path without a label lookup per event.
func (m *Metrics) EventCounter(evtType string) prometheus.Counter {
	return m.Events.WithLabelValues(evtType)
}

// Alert counts one alert.
func (m *Metrics) Alert(rule, priority string) {
	m.Alerts.WithLabelValues(rule, priority).Inc()
}

// Reload counts one rules reload.
func (m *Metrics) Reload(ok bool) {
	result := "ok"
	if !ok {
		result = "failed"
	}
	m.Reloads.WithLabelValues(result).Inc()
}

// ObserveOutputs makes /metrics report the outputs' queue depth and
// capacity and their sent, failed and dropped counts; pass the
// Dispatcher's Stats.
func (m *Metrics) ObserveOutputs(stats func() []output.Stats) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.outputs = stats
}

// ObserveSuppressed makes /metrics report the alerts suppressed by the
// rate limit; pass the Dispatcher's Suppressed.
func (m *Metrics) ObserveSuppressed(count func() uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.suppressed = count
}

// KernelCounts are the sensor's counters /metrics reports.
type KernelCounts struct {
	Drops   uint64 // records lost: the ring buffer was full
	Skipped uint64 // records the read-only file filter left in the kernel
}

// ObserveKernel makes /metrics report the sensor's counts of records lost
// and left in the kernel.
func (m *Metrics) ObserveKernel(counts func() KernelCounts) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.kernel = counts
}

// ObserveProcessTable makes /metrics report the process table's size.
func (m *Metrics) ObserveProcessTable(size func() int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.processTable = size
}

// sources collects the metrics read from registered functions.
type sources Metrics

func (s *sources) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descQueueDepth, descQueueCapacity, descSent, descFailed, descDropped,
		descSuppressed, descKernelDrops, descKernelSkipped, descProcessTable,
	} {
		ch <- d
	}
}

func (s *sources) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	outputs, suppressed, kernel, table := s.outputs, s.suppressed, s.kernel, s.processTable
	s.mu.Unlock()
	if outputs != nil {
		for _, o := range outputs() {
			ch <- prometheus.MustNewConstMetric(descQueueDepth, prometheus.GaugeValue, float64(o.Queued), o.Name)
			ch <- prometheus.MustNewConstMetric(descQueueCapacity, prometheus.GaugeValue, float64(o.Capacity), o.Name)
			ch <- prometheus.MustNewConstMetric(descSent, prometheus.CounterValue, float64(o.Sent), o.Name)
			ch <- prometheus.MustNewConstMetric(descFailed, prometheus.CounterValue, float64(o.Failed), o.Name)
			ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(o.Dropped), o.Name)
		}
	}
	if suppressed != nil {
		ch <- prometheus.MustNewConstMetric(descSuppressed, prometheus.CounterValue, float64(suppressed()))
	}
	if kernel != nil {
		k := kernel()
		ch <- prometheus.MustNewConstMetric(descKernelDrops, prometheus.CounterValue, float64(k.Drops))
		ch <- prometheus.MustNewConstMetric(descKernelSkipped, prometheus.CounterValue, float64(k.Skipped))
	}
	if table != nil {
		ch <- prometheus.MustNewConstMetric(descProcessTable, prometheus.GaugeValue, float64(table()))
	}
}
