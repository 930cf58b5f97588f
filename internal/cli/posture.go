package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/posture"
)

func newPostureCmd() *cobra.Command {
	var (
		rf       runtimeFlags
		cfgf     configFlags
		format   string
		failOn   string
		running  bool
		profiles string
		procRoot string
		sysRoot  string
		waitFor  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "posture [FILE|DIR|-]...",
		Short: "Check the attack's mitigations on Kubernetes manifests and on running containers",
		Long: `Check what stops the preload attack: read-only root filesystem, non-root
user, no privilege escalation, dropped capabilities, no shared process
namespace with a container that can write its /etc, seccomp, an AppArmor
profile denying writes under /etc, no writable host mounts over /etc or the
libraries, images without a loader, shell or package manager.

With FILE, DIR or - (stdin: helm template, kustomize build), reads Kubernetes
YAML or JSON (multi-document, List kinds) and reports each finding at its
file:line. With --running, judges every container /proc shows from what the
kernel says (uid, CapEff, NoNewPrivs, Seccomp, LSM label, mountinfo,
namespaces, the root's files) and the node's LSMs.

Exits 0 when no finding is at or above --fail-on, 1 when one is, 2 on error
(unreadable or malformed input). docs/posture.md lists the checks.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			fail, err := posture.ParseSeverity(failOn)
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("--fail-on: %w", err)}
			}
			switch format {
			case "text", "json", "sarif":
			default:
				return &exitError{code: 2, err: fmt.Errorf("--format: %q is not text, json or sarif", format)}
			}
			if !running && len(args) == 0 {
				return &exitError{code: 2, err: fmt.Errorf("give manifests (FILE, DIR or - for stdin) or --running")}
			}
			opts := &posture.Options{}
			if profiles != "" {
				p, err := posture.LoadProfiles(profiles)
				if err != nil {
					return &exitError{code: 2, err: fmt.Errorf("--apparmor-profiles: %w", err)}
				}
				opts.Profiles, opts.ProfilesDir = p, profiles
			}
			rep := &posture.Report{}
			if len(args) > 0 {
				rep = posture.CheckPaths(args, cmd.InOrStdin(), opts)
			}
			if running {
				if err := postureRunning(cmd, rep, &rf, &cfgf, procRoot, sysRoot, waitFor); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			switch format {
			case "json":
				err = rep.WriteJSON(out)
			case "sarif":
				err = rep.WriteSARIF(out)
			default:
				err = rep.WriteText(out)
			}
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			if len(rep.Errors) > 0 {
				if format != "text" {
					for _, e := range rep.Errors {
						fmt.Fprintln(cmd.ErrOrStderr(), "truesight:", e)
					}
				}
				return &exitError{code: 2}
			}
			if w, ok := posture.Worst(rep.Findings); ok && w >= fail {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	rf.register(cmd)
	cfgf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&format, "format", "text", "output: text (grouped report), json or sarif (SARIF 2.1.0)")
	f.StringVar(&failOn, "fail-on", "low", "exit 1 when a finding is at or above this severity: info, low, medium, high, critical")
	f.BoolVar(&running, "running", false, "check every running container and the node, from /proc (needs root)")
	f.StringVar(&profiles, "apparmor-profiles", "", "directory of AppArmor profile texts, to judge Localhost profiles")
	f.StringVar(&procRoot, "proc", "", "procfs of the node (default: <host-root>/proc)")
	f.StringVar(&sysRoot, "sys", "", "sysfs of the node (default: <host-root>/sys)")
	f.DurationVar(&waitFor, "wait", 3*time.Second, "with --running: how long to wait for the runtimes' first answers (names and images)")
	return cmd
}

func postureRunning(cmd *cobra.Command, rep *posture.Report, rf *runtimeFlags, cfgf *configFlags, procRoot, sysRoot string, waitFor time.Duration) error {
	if os.Geteuid() != 0 {
		return &exitError{code: 2, err: fmt.Errorf("posture --running needs root (to read every process's status, mountinfo and root)")}
	}
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelError}))
	cfg, err := loadConfig(cmd, cfgf, nil)
	if err != nil {
		return err
	}
	copts, err := rf.options(cmd, log, cfg.Truesight.Containers)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if procRoot == "" {
		procRoot = filepath.Join("/", copts.HostRoot, "proc")
	}
	if sysRoot == "" {
		sysRoot = filepath.Join("/", copts.HostRoot, "sys")
	}
	// The runtimes get until the deadline to describe every container:
	// names and images make the report readable, the checks do not need
	// them.
	wctx, wcancel := context.WithTimeout(cmd.Context(), waitFor)
	defer wcancel()
	reg, stopReg := startRegistry(cmd.Context(), copts, waitFor)
	defer stopReg()
	// Ask for every container at once (the registry fetches side by
	// side), then take the answers in turn.
	if procs, err := container.ScanProcs(procRoot); err == nil {
		for id := range procs {
			reg.Seen(id)
		}
	}
	lookup := func(id string) *container.Info { return reg.Wait(wctx, id) }
	self, err := posture.ReadSelf(procRoot)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("read own namespaces: %w", err)}
	}
	obs, err := posture.ObserveAll(procRoot, lookup)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("read processes: %w", err)}
	}
	node := posture.ReadNode(sysRoot, procRoot)
	host, _ := os.Hostname()
	rep.Node, rep.Running = &node, obs
	rep.Findings = append(rep.Findings, posture.CheckNode(node, host)...)
	for _, o := range obs {
		rep.Findings = append(rep.Findings, posture.CheckRunning(o, self)...)
	}
	return nil
}
