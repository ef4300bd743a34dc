package main

import (
	"fmt"
	"io"
)

// phaseFigures are the costs of one phase (join storm, or endpoint changes).
type phaseFigures struct {
	ServerCPUSeconds float64 `json:"server_cpu_s"`
	Messages         int64   `json:"messages"`
	PeerEntries      int64   `json:"peer_entries"`
	WireMiB          float64 `json:"wire_mib"`
	MicrosPerEntry   float64 `json:"us_per_entry"`
}

// results is everything one run measured; it is the JSON the runner collects.
type results struct {
	Label       string `json:"label"`
	URL         string `json:"url"`
	Nodes       int    `json:"nodes"`
	Groups      int    `json:"groups"`
	Servers     int    `json:"servers"`
	Concurrency int    `json:"concurrency"`
	CapVer      int    `json:"capver"`

	Registered      int     `json:"registered"`
	RegisterFailed  int     `json:"register_failed"`
	RegisterRetries int     `json:"register_retries"`
	RegisterP50Ms   float64 `json:"register_p50_ms"`
	RegisterP99Ms   float64 `json:"register_p99_ms"`
	RegisterMaxMs   float64 `json:"register_max_ms"`
	JoinSeconds     float64 `json:"join_s"`

	Converged                   bool         `json:"converged"`
	ConvergedNodes              int          `json:"converged_nodes"`
	ConvergeSeconds             float64      `json:"converge_s"`
	ConvergeAfterLastRegSeconds float64      `json:"converge_after_last_registration_s"`
	Join                        phaseFigures `json:"join"`

	ChangesSent      int          `json:"changes_sent"`
	ChangesComplete  int          `json:"changes_complete"`
	PropagationP50Ms float64      `json:"propagation_p50_ms"`
	PropagationP99Ms float64      `json:"propagation_p99_ms"`
	PropagationMaxMs float64      `json:"propagation_max_ms"`
	DeliveryP50Ms    float64      `json:"delivery_p50_ms"`
	DeliveryP99Ms    float64      `json:"delivery_p99_ms"`
	Changes          phaseFigures `json:"changes"`

	IdleSeconds          float64 `json:"idle_s,omitempty"`
	IdleCPUPercentOfCore float64 `json:"idle_cpu_percent_of_core,omitempty"`
	IdleMessages         int64   `json:"idle_messages,omitempty"`
	IdleKiBPerStream     float64 `json:"idle_kib_per_stream,omitempty"`
	ServerFDs            int     `json:"server_fds,omitempty"`

	ServerCPUSeconds  float64  `json:"server_cpu_s"`
	ServerRSSStartMiB float64  `json:"server_rss_start_mib"`
	ServerRSSEndMiB   float64  `json:"server_rss_end_mib"`
	ServerPeakRSSMiB  float64  `json:"server_peak_rss_mib"`
	Messages          int64    `json:"messages"`
	KeepAlives        int64    `json:"keepalives"`
	WireMiB           float64  `json:"wire_mib"`
	PlainMiB          float64  `json:"decompressed_mib"`
	PeerEntries       int64    `json:"peer_entries"`
	MicrosPerEntry    float64  `json:"us_per_entry"`
	Reconnects        int64    `json:"reconnects"`
	LoadgenCPUSeconds float64  `json:"loadgen_cpu_s"`
	Errors            int      `json:"errors"`
	FirstErrors       []string `json:"first_errors,omitempty"`
}

func (r *results) print(w io.Writer) {
	row := func(name, format string, args ...any) {
		fmt.Fprintf(w, "%-34s %s\n", name, fmt.Sprintf(format, args...))
	}
	shape := "full mesh"
	if r.Groups > 0 {
		shape = fmt.Sprintf("%d groups + %d shared servers", r.Groups, r.Servers)
	}
	fmt.Fprintf(w, "== %s: %d nodes, %s, capver %d\n", r.Label, r.Nodes, shape, r.CapVer)
	row("registration p50/p99/max", "%.1f / %.1f / %.1f ms (%d registered, %d failed, %d retries)", r.RegisterP50Ms, r.RegisterP99Ms, r.RegisterMaxMs, r.Registered, r.RegisterFailed, r.RegisterRetries)
	row("converged", "%v (%d/%d nodes) in %.1f s, %.1f s after the last registration", r.Converged, r.ConvergedNodes, r.Nodes, r.ConvergeSeconds, r.ConvergeAfterLastRegSeconds)
	row("join: server CPU", "%.2f s for %d peer entries (%.2f us/entry), %d messages, %.1f MiB", r.Join.ServerCPUSeconds, r.Join.PeerEntries, r.Join.MicrosPerEntry, r.Join.Messages, r.Join.WireMiB)
	if r.ChangesSent > 0 {
		row("endpoint changes complete", "%d/%d", r.ChangesComplete, r.ChangesSent)
		row("propagation p50/p99/max", "%.1f / %.1f / %.1f ms (each delivery p50/p99 %.1f / %.1f ms)", r.PropagationP50Ms, r.PropagationP99Ms, r.PropagationMaxMs, r.DeliveryP50Ms, r.DeliveryP99Ms)
		row("changes: server CPU", "%.2f s for %d peer entries (%.2f us/entry), %d messages, %.1f MiB", r.Changes.ServerCPUSeconds, r.Changes.PeerEntries, r.Changes.MicrosPerEntry, r.Changes.Messages, r.Changes.WireMiB)
	}
	if r.IdleSeconds > 0 {
		row("idle", "%.0f s: %.2f%% of one core, %d messages, %.1f KiB server memory per stream, %d fds", r.IdleSeconds, r.IdleCPUPercentOfCore, r.IdleMessages, r.IdleKiBPerStream, r.ServerFDs)
	}
	row("server CPU total", "%.2f s (%.2f us per peer entry)", r.ServerCPUSeconds, r.MicrosPerEntry)
	row("server RSS start/end/peak", "%.0f / %.0f / %.0f MiB", r.ServerRSSStartMiB, r.ServerRSSEndMiB, r.ServerPeakRSSMiB)
	row("wire", "%d messages (%d keep-alives), %.1f MiB (%.1f MiB decompressed), %d peer entries", r.Messages, r.KeepAlives, r.WireMiB, r.PlainMiB, r.PeerEntries)
	row("loadgen CPU / reconnects / errors", "%.1f s / %d / %d", r.LoadgenCPUSeconds, r.Reconnects, r.Errors)
	for _, e := range r.FirstErrors {
		row("  error", "%s", e)
	}
}
