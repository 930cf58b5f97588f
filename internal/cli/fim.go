package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/truesightsec/truesight/internal/config"
	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/fim"
)

// fimFlags are the flags the fim commands share.
type fimFlags struct {
	cfgf         configFlags
	rf           runtimeFlags
	paths        []string
	noContainers bool
	only         []string
	db, key      string
	format       string
	waitFor      time.Duration
}

func (f *fimFlags) register(cmd *cobra.Command, format bool) {
	f.cfgf.register(cmd)
	f.rf.register(cmd)
	fl := cmd.Flags()
	fl.StringArrayVar(&f.paths, "path", nil, "host directory to cover, repeatable; replaces truesight.fim.host_paths (--path= covers none)")
	fl.BoolVar(&f.noContainers, "no-containers", false, "leave running containers out")
	fl.StringArrayVar(&f.only, "container", nil, "only this container (name, or id of 12 characters or more), repeatable")
	fl.StringVar(&f.db, "db", "", "baseline database (truesight.fim.db)")
	fl.StringVar(&f.key, "key", "", "HMAC key file, kept outside the database (truesight.fim.key_file)")
	fl.DurationVar(&f.waitFor, "wait", 3*time.Second, "how long to wait for the runtimes' first answers (container names and images)")
	if format {
		fl.StringVar(&f.format, "format", "text", "output: text (grouped by container) or json")
	}
}

// fimSession is what one fim command works with.
type fimSession struct {
	cfg        config.FIM
	mon        *fim.Monitor
	hostPaths  []string
	containers []*fim.Container
	notes      []string
	errs       []error
	close      func()
}

func (f *fimFlags) open(cmd *cobra.Command, readOnly, wantContainers bool) (*fimSession, error) {
	if f.format != "" && f.format != "text" && f.format != "json" {
		return nil, &exitError{code: 2, err: fmt.Errorf("--format: %q is not text or json", f.format)}
	}
	cfg, err := loadConfig(cmd, &f.cfgf, nil)
	if err != nil {
		return nil, err
	}
	fc := cfg.Truesight.FIM
	if f.db != "" {
		fc.DB = f.db
	}
	if f.key != "" {
		fc.KeyFile = f.key
	}
	key, err := fim.LoadKey(fc.KeyFile)
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	store, err := fim.OpenStore(fc.DB, key, readOnly)
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	s := &fimSession{cfg: fc, close: func() { _ = store.Close() }}
	s.mon = &fim.Monitor{Store: store, Walk: fim.WalkOptions{Workers: fc.Workers, MaxHashBytes: int64(fc.MaxHashMiB) << 20}}
	paths := fc.HostPaths
	if cmd.Flags().Changed("path") {
		paths = nil
		for _, p := range f.paths {
			if p != "" {
				paths = append(paths, p)
			}
		}
	}
	s.hostPaths, s.notes = resolveHostPaths(paths)
	s.mon.HostExclude = fc.Exclude
	if wantContainers && fc.Containers && !f.noContainers {
		if err := s.findContainers(cmd, f, cfg); err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

// resolveHostPaths resolves symbolic links (/lib on a merged-/usr system is
// /usr/lib) so a tree is walked once, and leaves out missing paths.
func resolveHostPaths(paths []string) (out, notes []string) {
	for _, p := range paths {
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			notes = append(notes, fmt.Sprintf("host path %s skipped: %v", p, err))
			continue
		}
		if real != filepath.Clean(p) {
			notes = append(notes, fmt.Sprintf("host path %s is %s", p, real))
		}
		if !slices.Contains(out, real) {
			out = append(out, real)
		}
	}
	return out, notes
}

func (s *fimSession) findContainers(cmd *cobra.Command, f *fimFlags, cfg *config.Config) error {
	if os.Geteuid() != 0 {
		return &exitError{code: 2, err: errors.New("containers need root (to read their mountinfo and layers); run as root or give --no-containers")}
	}
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelError}))
	copts, err := f.rf.options(cmd, log, cfg.Truesight.Containers)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	reg, stopReg := startRegistry(cmd.Context(), copts, f.waitFor)
	defer stopReg()
	s.containers, s.errs = fim.Running(filepath.Join("/", copts.HostRoot, "proc"), reg.Lookup)
	if len(f.only) > 0 {
		s.containers = slices.DeleteFunc(s.containers, func(c *fim.Container) bool {
			return !slices.ContainsFunc(f.only, func(n string) bool { return nameMatches(c, n) })
		})
		// Errors are about containers that could not be read: the ones
		// not asked for are not this command's business.
		s.errs = nil
	}
	return nil
}

// nameMatches reports whether n names c: its name, or its id or a prefix
// of it of 12 characters at least.
func nameMatches(c *fim.Container, n string) bool {
	return c.Name == n || len(n) >= 12 && strings.HasPrefix(c.ID, n)
}

func newFimCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fim",
		Short: "File integrity: baselines per image layer and host path, drift per container",
		Long: `File integrity monitoring that knows containers. An image's lower layers are
baselined once each (ten containers of one image cost one baseline); a
container's drift is its overlay upper layer compared with the layers below
it, so a check costs what changed, not the image's size. Host paths come from
truesight.fim.host_paths (or --path). Baselines live in a bbolt database whose
every record carries an HMAC under a key kept outside it: a record changed
by hand is itself reported. docs/fim.md describes the model.`,
	}
	cmd.AddCommand(newFimInitCmd(), newFimCheckCmd(), newFimUpdateCmd(), newFimShowCmd())
	return cmd
}

func newFimInitCmd() *cobra.Command {
	var f fimFlags
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Baseline the host paths and the image layers of every running container",
		Long: `Walk and hash the host paths (replacing their baselines) and the lower layers
of every running container that have no baseline yet. A layer baseline is
never made again: a layer does not change, and hashing it anew would hide a
layer tampered with since. Exits 0, or 2 on an error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := f.open(cmd, false, true)
			if err != nil {
				return err
			}
			defer s.close()
			start := time.Now()
			made, errs := s.mon.Init(cmd.Context(), s.hostPaths, s.containers)
			out := cmd.OutOrStdout()
			for _, n := range s.notes {
				fmt.Fprintln(cmd.ErrOrStderr(), "truesight: note:", n)
			}
			files, bytes := 0, int64(0)
			for _, bl := range made {
				fmt.Fprintf(out, "baselined %s %s: %d entries, %d bytes\n", bl.Kind, bl.Path, bl.Entries, bl.Bytes)
				files += bl.Entries
				bytes += bl.Bytes
			}
			fmt.Fprintf(out, "%d baselines (%d entries, %d bytes) in %s; %d containers; database %s\n",
				len(made), files, bytes, time.Since(start).Round(time.Millisecond), len(s.containers), s.mon.Store.Path())
			return reportErrors(cmd, append(s.errs, errs...), 0)
		},
	}
	f.register(cmd, false)
	return cmd
}

// reportErrors prints errs and turns them into exit 2, else exits code.
func reportErrors(cmd *cobra.Command, errs []error, code int) error {
	for _, e := range errs {
		fmt.Fprintln(cmd.ErrOrStderr(), "truesight:", e)
	}
	if len(errs) > 0 {
		return &exitError{code: 2}
	}
	if code != 0 {
		return &exitError{code: code}
	}
	return nil
}

func newFimCheckCmd() *cobra.Command {
	var (
		f      fimFlags
		rehash bool
	)
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Report every container's drift, changed image layers and changed host files",
		Long: `Compare every running container's upper layer with the baselines of its
layers (a layer first seen now is baselined now, and said so), verify each
layer in use once (a layer changed on the node is reported once, with every
container that uses it) and verify the host paths. Files whose size, mtime,
ctime and inode are unchanged keep their recorded digest unless --rehash.

Exits 0 when nothing changed, 1 on drift, 2 on an error (a missing baseline,
an unreadable database).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := f.open(cmd, false, true)
			if err != nil {
				return err
			}
			defer s.close()
			rep := s.mon.Check(cmd.Context(), s.hostPaths, s.containers, rehash)
			for _, n := range s.notes {
				fmt.Fprintln(cmd.ErrOrStderr(), "truesight: note:", n)
			}
			for _, e := range s.errs {
				rep.Errors = append(rep.Errors, e.Error())
			}
			if f.format == "json" {
				err = rep.WriteJSON(cmd.OutOrStdout())
			} else {
				err = rep.WriteText(cmd.OutOrStdout())
			}
			switch {
			case err != nil:
				return &exitError{code: 2, err: err}
			case len(rep.Errors) > 0:
				return &exitError{code: 2}
			case rep.Changes() > 0:
				return &exitError{code: 1}
			}
			return nil
		},
	}
	f.register(cmd, true)
	cmd.Flags().BoolVar(&rehash, "rehash", false, "hash every file again, even those whose stat is unchanged")
	return cmd
}

func newFimUpdateCmd() *cobra.Command {
	var (
		f      fimFlags
		accept []string
	)
	cmd := &cobra.Command{
		Use:   "update --accept PATH...",
		Short: "Accept changes explicitly: make them part of the baseline (logged)",
		Long: `Accept the current state of each PATH: a host path (/etc/hosts) becomes its
host baseline's entry again (a deleted file leaves it); CONTAINER:/path (a
container's name or id) records the container's current state of that path
as accepted, so its drift leaves it out while it stays so. Every acceptance
is logged in the database (truesight fim show) and printed. Exits 0, or 2
when a PATH has no change to accept or another error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(accept) == 0 {
				return &exitError{code: 2, err: errors.New("give what to accept: --accept PATH (repeatable)")}
			}
			wantContainers := slices.ContainsFunc(accept, func(a string) bool { return !strings.HasPrefix(a, "/") })
			s, err := f.open(cmd, false, wantContainers)
			if err != nil {
				return err
			}
			defer s.close()
			var errs []error
			for _, a := range accept {
				msg, err := s.accept(cmd.Context(), a)
				if err != nil {
					errs = append(errs, fmt.Errorf("--accept %s: %w", a, err))
					continue
				}
				fmt.Fprintln(cmd.OutOrStdout(), msg)
			}
			return reportErrors(cmd, errs, 0)
		},
	}
	f.register(cmd, false)
	cmd.Flags().StringArrayVar(&accept, "accept", nil, "a host path, or CONTAINER:/path, whose current state to accept (repeatable)")
	return cmd
}

// accept accepts one PATH of `fim update`.
func (s *fimSession) accept(ctx context.Context, arg string) (string, error) {
	user := os.Getenv("SUDO_USER")
	if user == "" {
		user = os.Getenv("USER")
	}
	if strings.HasPrefix(arg, "/") {
		p := filepath.Clean(arg)
		bls, _, err := s.mon.Store.Baselines()
		if err != nil {
			return "", err
		}
		var best *fim.Baseline
		for _, bl := range bls {
			if bl.Kind == "host" && (p == bl.Path || strings.HasPrefix(p, bl.Path+"/")) && (best == nil || len(bl.Path) > len(best.Path)) {
				best = bl
			}
		}
		if best == nil {
			return "", errors.New("no host baseline covers it (truesight fim show lists them)")
		}
		rel := "/" + strings.TrimPrefix(strings.TrimPrefix(p, best.Path), "/")
		ch, err := s.mon.HostChange(ctx, best, rel)
		if err != nil {
			return "", err
		}
		if ch == nil {
			return "", errors.New("it has not changed since its baseline: nothing to accept")
		}
		if err := s.mon.Store.AcceptHost(best, rel, ch.New, ch.Kind, user); err != nil {
			return "", err
		}
		return fmt.Sprintf("accepted %s %s (host %s)", ch.Kind, p, best.Path), nil
	}
	name, p, ok := strings.Cut(arg, ":")
	if !ok || !strings.HasPrefix(p, "/") {
		return "", errors.New("want a host path (/etc/hosts) or CONTAINER:/path")
	}
	p = filepath.Clean(p)
	var c *fim.Container
	for _, x := range s.containers {
		if nameMatches(x, name) {
			c = x
		}
	}
	if c == nil {
		return "", fmt.Errorf("no running container named %s (or with an id starting so, 12 characters at least)", name)
	}
	ids, _, err := s.mon.Layers(ctx, c)
	if err != nil {
		return "", err
	}
	chs, err := s.mon.DriftPath(ctx, c, ids, p)
	if err != nil {
		return "", err
	}
	if len(chs) == 0 {
		return "", fmt.Errorf("it does not differ from the image in container %s: nothing to accept", c.Label())
	}
	ch := chs[0]
	if err := s.mon.Store.AcceptContainer(c.ID, p, ch.New, ch.Kind, user); err != nil {
		return "", err
	}
	return fmt.Sprintf("accepted %s %s in container %s (%s)", ch.Kind, p, c.Label(), container.ShortID(c.ID)), nil
}

func newFimShowCmd() *cobra.Command {
	var f fimFlags
	cmd := &cobra.Command{
		Use:   "show",
		Short: "List the baselines and the log of accepted changes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := f.open(cmd, true, false)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return &exitError{code: 2, err: err}
				}
				return err
			}
			defer s.close()
			bls, bad, err := s.mon.Store.Baselines()
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			log, badLog, err := s.mon.Store.Log()
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			bad = append(bad, badLog...)
			out := cmd.OutOrStdout()
			if f.format == "json" {
				doc := struct {
					Baselines []*fim.Baseline `json:"baselines"`
					Log       []fim.LogRecord `json:"log"`
					Tampered  []string        `json:"tampered,omitempty"`
				}{Baselines: bls, Log: log}
				for _, b := range bad {
					doc.Tampered = append(doc.Tampered, b.Error())
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(doc); err != nil {
					return &exitError{code: 2, err: err}
				}
			} else {
				for _, bl := range bls {
					fmt.Fprintf(out, "%-5s %s  %d entries, %d bytes, %s", bl.Kind, bl.Path, bl.Entries, bl.Bytes, bl.Created.Format(time.RFC3339))
					if len(bl.Images) > 0 {
						fmt.Fprintf(out, ", image %s", strings.Join(bl.Images, ", "))
					}
					fmt.Fprintln(out)
				}
				for _, r := range log {
					fmt.Fprintf(out, "%s %s %s %s %s by %s\n", r.Time.Format(time.RFC3339), r.Action, r.Kind, r.Baseline, r.Path, orNA(r.User))
				}
				for _, b := range bad {
					fmt.Fprintf(out, "tampered: %v\n", b)
				}
			}
			if len(bad) > 0 {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	f.register(cmd, true)
	return cmd
}

func orNA(s string) string {
	if s == "" {
		return "<NA>"
	}
	return s
}
