package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/truesightsec/truesight/internal/config"
	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/node"
)

// runtimeFlags select the container runtime sockets.
type runtimeFlags struct {
	hostRoot                string
	docker, containerd, cri []string
	timeout                 time.Duration
}

func (f *runtimeFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.hostRoot, "host-root", "", "prefix of every socket path and of /proc, e.g. /host when the node's / is mounted there (truesight.containers.host_root)")
	fl.StringSliceVar(&f.docker, "docker-socket", nil, "Docker Engine API socket (Docker, or podman system service); repeatable (truesight.containers.docker_sockets; else $DOCKER_HOST, $CONTAINER_HOST; default: "+joinPaths(container.DefaultDockerSockets)+")")
	fl.StringSliceVar(&f.containerd, "containerd-socket", nil, "containerd API socket; repeatable (truesight.containers.containerd_sockets; default: "+joinPaths(container.DefaultContainerdSockets)+")")
	fl.StringSliceVar(&f.cri, "cri-socket", nil, "Kubernetes CRI socket; repeatable (truesight.containers.cri_sockets; default: "+joinPaths(container.DefaultCRISockets)+")")
	fl.DurationVar(&f.timeout, "runtime-timeout", 5*time.Second, "how long to wait for one answer from a runtime (truesight.containers.timeout)")
}

// options turns the configuration's truesight.containers, with the flags
// given on top, into registry options; an empty socket list (in the file,
// or a flag given empty: "--cri-socket=") turns that runtime off. The
// Docker API sockets come from --docker-socket, else from a
// docker_sockets key that differs from the default, else from DOCKER_HOST
// and CONTAINER_HOST as the docker and podman tools read them, else from
// the defaults; a variable that names no unix socket is an error.
func (f *runtimeFlags) options(cmd *cobra.Command, log *slog.Logger, base config.Containers) (container.Options, error) {
	sockets := func(name string, flag, conf, defaults []string) []string {
		if cmd.Flags().Changed(name) {
			conf = flag
		} else if slices.Equal(conf, defaults) {
			// nil: the defaults, which may well be missing without a
			// warning; sockets the user names are warned about.
			return nil
		}
		out := []string{}
		for _, s := range conf {
			if s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	o := container.Options{HostRoot: base.HostRoot, Timeout: time.Duration(base.Timeout), Logger: log}
	if cmd.Flags().Changed("host-root") {
		o.HostRoot = f.hostRoot
	}
	if cmd.Flags().Changed("runtime-timeout") || o.Timeout <= 0 {
		o.Timeout = f.timeout
	}
	o.Docker = sockets("docker-socket", f.docker, base.DockerSockets, container.DefaultDockerSockets)
	if o.Docker == nil {
		env, err := container.SocketsFromEnvironment(os.Getenv)
		if err != nil {
			return o, err
		}
		o.Docker = env
	}
	o.Containerd = sockets("containerd-socket", f.containerd, base.ContainerdSockets, container.DefaultContainerdSockets)
	o.CRI = sockets("cri-socket", f.cri, base.CRISockets, container.DefaultCRISockets)
	return o, nil
}

func joinPaths(p []string) string {
	s := ""
	for i, x := range p {
		if i > 0 {
			s += ", "
		}
		s += x
	}
	return s
}

// containerRow is one line of `truesight containers`.
type containerRow struct {
	ID        string `json:"id"`
	FullID    string `json:"full_id"`
	Name      string `json:"name"`
	Image     string `json:"image"`
	Pod       string `json:"pod"`
	Namespace string `json:"namespace"`
	Processes int    `json:"processes"`
	Root      string `json:"root"`
	Runtime   string `json:"runtime"`
	Source    string `json:"source"`
}

func newContainersCmd() *cobra.Command {
	var (
		rf       runtimeFlags
		cfgf     configFlags
		asJSON   bool
		waitFor  time.Duration
		procRoot string
	)
	cmd := &cobra.Command{
		Use:   "containers",
		Short: "List the containers the agent sees now, with what their runtimes say about them",
		Long: `Ask every container runtime found (Docker Engine API, podman's compatible
service, containerd, CRI) for its running containers, count each container's
processes from /proc, and print one line per container: id, name, image, pod,
namespace, number of processes, root filesystem path and runtime. A container
that has processes but that no runtime knows prints <NA> for its metadata and
"unknown" as its runtime: it was started behind the runtimes' back, or its
runtime's socket is not reachable.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stderr := cmd.ErrOrStderr()
			log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			cfg, err := loadConfig(cmd, &cfgf, nil)
			if err != nil {
				return err
			}
			opts, err := rf.options(cmd, log, cfg.Truesight.Containers)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			reg, stopReg := startRegistry(cmd.Context(), opts, waitFor)
			defer stopReg()

			if procRoot == "" {
				procRoot = node.Root(opts.HostRoot).Path("/proc")
			}
			procs, err := container.ScanProcs(procRoot)
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("read processes: %w", err)}
			}
			// Containers seen only in /proc: ask for them too, briefly.
			pending := false
			for id := range procs {
				if reg.Lookup(id) == nil {
					pending = true
				}
			}
			if pending {
				deadline := time.Now().Add(min(waitFor, 2*time.Second))
				for time.Now().Before(deadline) {
					missing := 0
					for id := range procs {
						if reg.Lookup(id) == nil {
							missing++
						}
					}
					if missing == 0 {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
			}

			rows := containerRows(reg, procs, procRoot)
			for _, rt := range reg.Runtimes() {
				st := "not answering"
				if rt.Connected {
					st = "connected, " + rt.Engine
				}
				fmt.Fprintf(stderr, "runtime %s %s: %s\n", rt.API, rt.Socket, st)
			}
			return printContainers(cmd.OutOrStdout(), rows, asJSON)
		},
	}
	rf.register(cmd)
	cfgf.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array instead of a table")
	cmd.Flags().DurationVar(&waitFor, "wait", 5*time.Second, "how long to wait for the runtimes' first answers")
	cmd.Flags().StringVar(&procRoot, "proc", "", "procfs to count processes in (default: <host-root>/proc)")
	return cmd
}

func containerRows(reg *container.Registry, procs map[string]container.Procs, procRoot string) []containerRow {
	seen := map[string]bool{}
	var rows []containerRow
	add := func(id string, i *container.Info) {
		seen[id] = true
		p := procs[id]
		r := containerRow{ID: container.ShortID(id), FullID: id, Processes: p.Count,
			Name: "<NA>", Image: "<NA>", Pod: "<NA>", Namespace: "<NA>", Root: "<NA>", Runtime: "unknown"}
		if i != nil {
			r.Name, r.Image, r.Pod, r.Namespace = na(i.Name), na(i.Image), na(i.PodName), na(i.PodNamespace)
			r.Runtime, r.Source = na(i.Type), i.Runtime
			r.Root = i.RootPath
			if r.Root == "" && i.Pid > 0 {
				r.Root = filepath.Join(procRoot, strconv.FormatInt(i.Pid, 10), "root")
			}
		}
		if (r.Root == "" || r.Root == "<NA>") && p.Pid > 0 {
			r.Root = filepath.Join(procRoot, strconv.Itoa(p.Pid), "root")
		}
		r.Root = na(r.Root)
		rows = append(rows, r)
	}
	for _, i := range reg.Containers() {
		if reg.Exited(i.FullID) && procs[i.FullID].Count == 0 {
			continue
		}
		add(i.FullID, i)
	}
	for id := range procs {
		if !seen[id] {
			add(id, reg.Lookup(id))
		}
	}
	sort.Slice(rows, func(a, b int) bool {
		if rows[a].Name != rows[b].Name {
			return rows[a].Name < rows[b].Name
		}
		return rows[a].FullID < rows[b].FullID
	})
	return rows
}

func na(s string) string {
	if s == "" {
		return "<NA>"
	}
	return s
}

func printContainers(w io.Writer, rows []containerRow, asJSON bool) error {
	if asJSON {
		if rows == nil {
			rows = []containerRow{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONTAINER ID\tNAME\tIMAGE\tPOD\tNAMESPACE\tPROCS\tROOT\tRUNTIME")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.ID, r.Name, r.Image, r.Pod, r.Namespace, r.Processes, r.Root, r.Runtime)
	}
	return tw.Flush()
}
